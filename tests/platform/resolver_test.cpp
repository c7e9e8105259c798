// Pushed DNS without root: the resolvectl argument vectors and the helper running them (a fake
// resolvectl in PATH: systemd-resolved cannot run in the netns tests, systemd is not PID 1
// there), the resolv.conf text, the helper's request format,
// and the file backend's backup/restore on files in a temp dir (regular file byte-exact with
// its mode, a symlink put back as a symlink, a missing file, a crashed run's backup).
#include "platform/resolv_conf_file.hpp"
#include "platform/resolver.hpp"
#include "platform/resolver_helper.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace postern::platform {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

DnsSettings sample() {
  DnsSettings s;
  s.interface = "postern0";
  s.servers = {*IpAddress::parse("10.77.0.1"), *IpAddress::parse("10.77.0.53")};
  s.domains = {*dns::parse_domain("site.test"), *dns::parse_domain("~intranet.site.test")};
  s.default_route = false;
  return s;
}

TEST(Resolver, ResolvectlCommands) {
  auto commands = resolvectl_apply_commands(sample());
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0], (Args{"resolvectl", "dns", "postern0", "10.77.0.1", "10.77.0.53"}));
  EXPECT_EQ(commands[1], (Args{"resolvectl", "domain", "postern0", "site.test", "~intranet.site.test"}));
  EXPECT_EQ(commands[2], (Args{"resolvectl", "default-route", "postern0", "no"}));
  DnsSettings plain = sample();
  plain.domains.clear();
  plain.default_route = true;
  commands = resolvectl_apply_commands(plain);
  EXPECT_EQ(commands[1], (Args{"resolvectl", "domain", "postern0", ""}));  // clears earlier domains
  EXPECT_EQ(commands[2], (Args{"resolvectl", "default-route", "postern0", "yes"}));
  EXPECT_EQ(resolvectl_revert_command("postern0"), (Args{"resolvectl", "revert", "postern0"}));
}

TEST(Resolver, RenderKeepsOptionsDropsRoutingOnly) {
  std::string text = render_resolv_conf(sample(), "nameserver 192.0.2.1\nsearch home\noptions edns0 trust-ad\noptionsx\n");
  EXPECT_EQ(text,
            "# Written by postern for the tunnel on postern0; the original is restored when the tunnel client exits.\n"
            "nameserver 10.77.0.1\nnameserver 10.77.0.53\nsearch site.test\noptions edns0 trust-ad\n");
  EXPECT_EQ(routing_only_domains(sample()), (Args{"~intranet.site.test"}));
}

TEST(Resolver, RequestRoundTripAndValidation) {
  auto s = sample();
  std::string text = encode_apply_request(s);
  EXPECT_EQ(text,
            "apply\ninterface postern0\nnameserver 10.77.0.1\nnameserver 10.77.0.53\ndomain site.test\n"
            "domain ~intranet.site.test\ndefault-route no\n");
  auto back = decode_apply_request(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  for (std::string bad : {"", "restore\n", "apply\n", "apply\ninterface a/b\ndefault-route yes\n",
                          "apply\ninterface x\nnameserver 10.0.0\ndefault-route yes\n",
                          "apply\ninterface x\ndomain a..b\ndefault-route yes\n",
                          "apply\ninterface x\ndefault-route maybe\n", "apply\ninterface x\nsearch a\ndefault-route no\n",
                          "apply\ninterface x\ninterface y\ndefault-route no\n",
                          "apply\ninterface x\ndomain a\nnameserver 1.1.1.1\ndefault-route no\nextra\n"}) {
    EXPECT_FALSE(decode_apply_request(bad)) << bad;
  }
}

// IPv6 servers pushed by a dual-stack tunnel go every way an IPv4 one does (RFC 5952 text).
TEST(Resolver, Ipv6ServersLikeIpv4Ones) {
  DnsSettings s = sample();
  s.servers = {*IpAddress::parse("10.77.0.1"), *IpAddress::parse("FD00:77:0::1")};
  EXPECT_EQ(resolvectl_apply_commands(s)[0], (Args{"resolvectl", "dns", "postern0", "10.77.0.1", "fd00:77::1"}));
  EXPECT_NE(render_resolv_conf(s, "").find("nameserver 10.77.0.1\nnameserver fd00:77::1\n"), std::string::npos);
  auto back = decode_apply_request(encode_apply_request(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
}

TEST(Resolver, ResolvedDetection) {
  EXPECT_FALSE(resolved_running("/nonexistent/io.systemd.Resolve"));
}

class ResolvConfFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("postern-resolver-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "etc");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }
  fs::path target() const { return dir_ / "etc" / "resolv.conf"; }
  ResolvConfFile file() const { return {target(), dir_ / "state" / "postern0.resolv.conf.backup"}; }
  fs::path dir_;
};

TEST_F(ResolvConfFileTest, RegularFileRestoredByteExact) {
  const std::string original = "# host\nnameserver 192.0.2.1\nsearch home\noptions ndots:2\n\n  trailing";
  write(target(), original);
  ::chmod(target().c_str(), 0640);
  auto f = file();
  std::string error;
  ASSERT_FALSE(f.apply(sample(), error)) << error;
  EXPECT_TRUE(f.has_backup());
  std::string applied = read(target());
  EXPECT_NE(applied.find("nameserver 10.77.0.1\n"), std::string::npos);
  EXPECT_NE(applied.find("search site.test\n"), std::string::npos);
  EXPECT_NE(applied.find("options ndots:2\n"), std::string::npos);
  EXPECT_EQ(applied.find("192.0.2.1"), std::string::npos);
  // A reconnect with other servers: the backup still holds the host's original.
  DnsSettings other = sample();
  other.servers = {*IpAddress::parse("10.77.0.9")};
  ASSERT_FALSE(f.apply(other, error)) << error;
  EXPECT_NE(read(target()).find("nameserver 10.77.0.9\n"), std::string::npos);
  ASSERT_FALSE(f.restore(error)) << error;
  EXPECT_EQ(read(target()), original);
  struct stat st {};
  ASSERT_EQ(::stat(target().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_FALSE(f.has_backup());
  ASSERT_FALSE(f.restore(error)) << error;  // nothing to do
  EXPECT_EQ(read(target()), original);
}

TEST_F(ResolvConfFileTest, SymlinkPutBackAsSymlink) {
  write(dir_ / "stub.conf", "nameserver 127.0.0.53\noptions edns0\n");
  fs::create_symlink("../stub.conf", target());
  auto f = file();
  std::string error;
  ASSERT_FALSE(f.apply(sample(), error)) << error;
  EXPECT_FALSE(fs::is_symlink(target()));                       // replaced, not written through
  EXPECT_EQ(read(dir_ / "stub.conf"), "nameserver 127.0.0.53\noptions edns0\n");
  EXPECT_NE(read(target()).find("options edns0\n"), std::string::npos);
  ASSERT_FALSE(f.restore(error)) << error;
  ASSERT_TRUE(fs::is_symlink(target()));
  EXPECT_EQ(fs::read_symlink(target()), fs::path("../stub.conf"));
}

TEST_F(ResolvConfFileTest, MissingFileRemovedAgain) {
  auto f = file();
  std::string error;
  ASSERT_FALSE(f.apply(sample(), error)) << error;
  EXPECT_TRUE(fs::exists(target()));
  ASSERT_FALSE(f.restore(error)) << error;
  EXPECT_FALSE(fs::exists(target()));
}

TEST_F(ResolvConfFileTest, CrashedRunRestoredByTheNextOne) {
  write(target(), "nameserver 192.0.2.1\n");
  {
    std::string error;
    ASSERT_FALSE(file().apply(sample(), error)) << error;  // then "crash": no restore
  }
  auto next = file();
  EXPECT_TRUE(next.has_backup());
  std::string error;
  ASSERT_FALSE(next.restore(error)) << error;
  EXPECT_EQ(read(target()), "nameserver 192.0.2.1\n");
}

TEST_F(ResolvConfFileTest, ForeignBackupLeftAlone) {
  write(target(), "nameserver 192.0.2.1\n");
  fs::create_directories(dir_ / "state");
  write(dir_ / "state" / "postern0.resolv.conf.backup", "something else\n");
  std::string error;
  EXPECT_TRUE(file().restore(error));
  EXPECT_NE(error.find("not a postern backup"), std::string::npos);
  EXPECT_EQ(read(target()), "nameserver 192.0.2.1\n");
}

// The helper process itself (fork, requests over the socketpair, restore when the daemon's end
// closes), on temp files with the file backend: needs no root either.
TEST_F(ResolvConfFileTest, HelperAppliesAndRestoresOnClose) {
  write(target(), "nameserver 192.0.2.1\n");
  ResolverOptions o;
  o.backend = ResolverBackend::file;
  o.resolv_conf = target();
  o.state_dir = dir_ / "state";
  o.interface = "postern0";
  auto helper = ResolverHelper::spawn(o);
  EXPECT_EQ(helper->apply(sample()), "");
  EXPECT_NE(read(target()).find("nameserver 10.77.0.1\n"), std::string::npos);
  DnsSettings bad = sample();
  bad.interface = "a/b";
  EXPECT_EQ(helper->apply(bad), "malformed request");
  helper.reset();  // like the daemon exiting without a restore request
  EXPECT_EQ(read(target()), "nameserver 192.0.2.1\n");
  EXPECT_FALSE(fs::exists(resolv_conf_backup_path(o)));
}

// The resolved backend's process handling, with a fake `resolvectl` first in PATH that records
// its arguments: run without a shell (an empty argument arrives as one), in order, and
// `revert` on restore while the interface exists ("lo" here).
TEST_F(ResolvConfFileTest, HelperRunsResolvectlWithoutAShell) {
  const fs::path bin = dir_ / "bin", calls = dir_ / "calls";
  fs::create_directories(bin);
  write(bin / "resolvectl", "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done >>'" + calls.string() +
                                "'\necho >>'" + calls.string() + "'\n");
  fs::permissions(bin / "resolvectl", fs::perms::owner_all);
  const std::string old_path = ::getenv("PATH") ? ::getenv("PATH") : "";
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  ResolverOptions o;
  o.backend = ResolverBackend::resolved;
  o.state_dir = dir_ / "state";
  o.interface = "lo";
  auto helper = ResolverHelper::spawn(o);
  ::setenv("PATH", old_path.c_str(), 1);
  DnsSettings s = sample();
  s.interface = "lo";
  s.domains.clear();
  EXPECT_EQ(helper->apply(s), "");
  EXPECT_EQ(helper->restore(), "");
  helper.reset();
  EXPECT_EQ(read(calls),
            "[dns][lo][10.77.0.1][10.77.0.53]\n[domain][lo][]\n[default-route][lo][no]\n[revert][lo]\n");
}

}  // namespace
}  // namespace postern::platform
