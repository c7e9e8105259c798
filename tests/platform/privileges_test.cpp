// netns tests for drop_privileges: each case forks, drops in the child (the parent test process
// must stay root), and reports through the exit status plus a message on a pipe.
#include "platform/privileges.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <functional>
#include <string>

#include "platform/netlink.hpp"
#include "platform/tun_device.hpp"
#include "tests/platform/netns_env.hpp"

namespace postern::platform {
namespace {

struct ChildResult {
  int status = -1;
  std::string message;
};

// Runs body in a forked child; body returns "" on success or a failure description.
ChildResult run_in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) return {-1, "pipe failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string message;
    try {
      message = body();
    } catch (const std::exception& e) {
      message = std::string("exception: ") + e.what();
    }
    if (!message.empty()) (void)!::write(fds[1], message.data(), message.size());
    ::_exit(message.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  ChildResult result;
  std::array<char, 1024> buffer{};
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer.data(), buffer.size())) > 0) {
    result.message.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  ::waitpid(pid, &result.status, 0);
  return result;
}

bool exited_ok(const ChildResult& r) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }

TEST(PrivilegesTest, DropToNobodyKeepingNetAdmin) {
  POSTERN_REQUIRE_NETNS();
  auto tun = TunDevice::open({"pt-priv", false, false});  // root-only setup before the drop
  const auto result = run_in_child([&]() -> std::string {
    drop_privileges({"nobody", "", {Capability::net_admin}, {}});
    const auto id = current_identity();
    if (id.real_uid != 65534 || id.effective_uid != 65534) return "uid " + id.to_string();
    if (!id.has_effective(Capability::net_admin)) return "lost net_admin " + id.to_string();
    if (id.has_effective(Capability::net_bind_service)) return "kept extra " + id.to_string();
    if (!id.no_new_privs) return "no_new_privs unset";
    if (::setuid(0) == 0) return "regained root";
    // CAP_NET_ADMIN still works for the daemon's route changes.
    auto netlink = Netlink::open();
    if (auto ec = netlink.set_mtu("pt-priv", 1300)) return "set_mtu after drop: " + ec.message();
    // ... and a file only root could write is out of reach (no CAP_DAC_OVERRIDE).
    if (::access("/etc/shadow", R_OK) == 0) return "can still read /etc/shadow";
    return "";
  });
  EXPECT_TRUE(exited_ok(result)) << result.message;
  EXPECT_EQ(test::read_sys_net("pt-priv", "mtu"), "1300");
  EXPECT_EQ(::getuid(), 0U);  // the parent is untouched
}

TEST(PrivilegesTest, DropEverythingThenNetlinkIsRefused) {
  POSTERN_REQUIRE_NETNS();
  auto tun = TunDevice::open({"pt-nopriv", false, false});
  const auto result = run_in_child([&]() -> std::string {
    drop_privileges({"nobody", "nogroup", {}, {}});
    const auto id = current_identity();
    if (id.cap_effective != 0 || id.cap_permitted != 0 || id.cap_bounding != 0) {
      return "caps left: " + id.to_string();
    }
    auto netlink = Netlink::open();
    const auto ec = netlink.set_mtu("pt-nopriv", 1300);
    if (ec != std::errc::operation_not_permitted) return "expected EPERM, got " + ec.message();
    return "";
  });
  EXPECT_TRUE(exited_ok(result)) << result.message;
}

TEST(PrivilegesTest, UnknownUserFailsLoudly) {
  POSTERN_REQUIRE_NETNS();
  const auto result = run_in_child([]() -> std::string {
    try {
      drop_privileges({"postern-no-such-user", "", {}, {}});
    } catch (const std::system_error& e) {
      if (std::string(e.what()).find("postern-no-such-user") == std::string::npos) {
        return std::string("message lacks the name: ") + e.what();
      }
      if (::getuid() != 0) return "identity changed despite failure";
      return "";
    }
    return "no exception";
  });
  EXPECT_TRUE(exited_ok(result)) << result.message;
}

TEST(PrivilegesTest, NumericIdsNeedAGroup) {
  POSTERN_REQUIRE_NETNS();
  const auto result = run_in_child([]() -> std::string {
    try {
      drop_privileges({"65534", "", {}, {}});
      return "bare numeric uid accepted";
    } catch (const std::system_error&) {
    }
    drop_privileges({"65534", "65533", {}, {}});
    const auto id = current_identity();
    if (id.real_uid != 65534 || id.real_gid != 65533) return "ids " + id.to_string();
    return "";
  });
  EXPECT_TRUE(exited_ok(result)) << result.message;
}

TEST(PrivilegesTest, SupplementaryGroupIsKeptAndNothingElse) {
  POSTERN_REQUIRE_NETNS();
  const auto result = run_in_child([]() -> std::string {
    // "mail" (gid 8 on Debian) stands in for the IMAP server's vmail group.
    drop_privileges({"nobody", "nogroup", {}, {"mail", "nogroup"}});
    const auto id = current_identity();
    std::vector<gid_t> groups = id.supplementary_groups;
    std::sort(groups.begin(), groups.end());
    if (groups != std::vector<gid_t>{8, 65534}) return "groups " + id.to_string();
    if (id.effective_gid != 65534) return "primary group " + id.to_string();
    return "";
  });
  EXPECT_TRUE(exited_ok(result)) << result.message;
}

}  // namespace
}  // namespace postern::platform
