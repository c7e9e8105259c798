// Configuration loader tests: every error names file:line and the key; defaults; relative paths.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

namespace postern::config {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

const char* const server_text = R"([tunnel]
listen = "0.0.0.0:443"
certificate = "pki/server.pem"
private_key = "/etc/postern/server.key"
client_ca = "pki/ca.pem"
pool = "10.77.0.0/24"
)";

const char* const smtp_text = R"(
[smtp]
listen = ["0.0.0.0:587 starttls", "0.0.0.0:465 tls", "127.0.0.1:2525 auto"]
hostname = "mail.example.org"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool"
maildir = "/var/mail/postern"
domains = ["Example.org"]
)";

std::string error_of(std::string_view text, const fs::path& path = "/etc/postern/site.toml") {
  try {
    parse_config(text, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Config, ServerIpv6PoolRoutesAndDns) {
  Config c = parse_config(std::string(server_text) + "pool6 = \"fd00:77::/112\"\n", "/etc/postern/site.toml");
  ASSERT_TRUE(c.server && c.server->pool6);
  EXPECT_EQ(c.server->pool6->to_string(), "fd00:77::/112");
  EXPECT_EQ(c.server->pool6->first_host().to_string(), "fd00:77::1");
  // Default routes: both pools.
  ASSERT_EQ(c.server->routes.size(), 2u);
  EXPECT_EQ(c.server->routes[0], c.server->pool);
  EXPECT_EQ(c.server->routes[1], *c.server->pool6);

  c = parse_config(std::string(server_text) +
                       "pool6 = \"fd00:77::/64\"\nroutes = [\"10.77.0.0/24\", \"::/0\", \"2001:db8::/32\"]\n"
                       "dns = [\"10.77.0.1\", \"fd00:77::1\"]\n",
                   "/etc/postern/site.toml");
  ASSERT_EQ(c.server->routes.size(), 3u);
  EXPECT_EQ(c.server->routes[1].to_string(), "::/0");
  EXPECT_EQ(c.server->routes[2].to_string(), "2001:db8::/32");
  ASSERT_EQ(c.server->dns.size(), 2u);
  EXPECT_TRUE(c.server->dns[1].is_v6());

  // Without pool6 nothing IPv6 is set.
  c = parse_config(server_text, "/etc/postern/site.toml");
  EXPECT_FALSE(c.server->pool6);
}

TEST(Config, ServerDefaultsAndRelativePaths) {
  Config c = parse_config(server_text, "/etc/postern/site.toml");
  ASSERT_TRUE(c.server);
  EXPECT_FALSE(c.client);
  EXPECT_FALSE(c.smtp);
  const auto& s = *c.server;
  EXPECT_EQ(s.listen, IpEndpoint::parse("0.0.0.0:443"));
  EXPECT_EQ(s.data_port, 443);
  EXPECT_EQ(s.certificate, fs::path("/etc/postern/pki/server.pem"));
  EXPECT_EQ(s.private_key, fs::path("/etc/postern/server.key"));
  EXPECT_EQ(s.client_ca, fs::path("/etc/postern/pki/ca.pem"));
  EXPECT_EQ(s.auth, AuthMode::any);
  EXPECT_EQ(s.pool.to_string(), "10.77.0.0/24");
  EXPECT_EQ(s.pool.first_host().to_string(), "10.77.0.1");
  ASSERT_EQ(s.routes.size(), 1u);
  EXPECT_EQ(s.routes[0], s.pool);
  EXPECT_TRUE(s.dns.empty());
  EXPECT_EQ(s.interface, "postern0");
  EXPECT_EQ(s.mtu, 1400u);
  EXPECT_EQ(s.tun_queue_length, 1000u);
  EXPECT_EQ(s.keepalive, milliseconds(10'000));
  EXPECT_EQ(s.dead_after, milliseconds(35'000));
  EXPECT_EQ(s.cipher, Cipher::aes_256_gcm);
  EXPECT_EQ(s.rekey_interval, milliseconds(120'000));
  EXPECT_EQ(s.rekey_packets, 268435456u);
  EXPECT_FALSE(s.client_to_client);
  EXPECT_TRUE(s.mss_clamp);
  EXPECT_TRUE(s.offload);
  EXPECT_EQ(s.idle_timeout, milliseconds(300'000));
  EXPECT_EQ(s.max_pending_handshakes, 512u);
  EXPECT_EQ(s.max_pending_handshakes_per_source, 16u);
  EXPECT_EQ(s.max_queued_verifications, 64u);
  EXPECT_EQ(s.address_grace, milliseconds(600'000));
  EXPECT_EQ(c.daemon.user, "nobody");
  EXPECT_EQ(c.daemon.group, "");  // the run-as user's primary group
  EXPECT_EQ(c.daemon.status_socket, fs::path("/run/postern/site.sock"));
  EXPECT_EQ(c.daemon.log_level, log::Level::info);
  EXPECT_FALSE(c.daemon.capture_inner);
}

TEST(Config, ServerWithSmtpDefaults) {
  Config c = parse_config(std::string(server_text) + smtp_text, "/srv/site.toml");
  ASSERT_TRUE(c.smtp);
  const auto& m = *c.smtp;
  ASSERT_EQ(m.listen.size(), 3u);
  EXPECT_EQ(m.listen[0].mode, SmtpTlsMode::starttls);
  EXPECT_EQ(m.listen[1].mode, SmtpTlsMode::tls);
  EXPECT_EQ(m.listen[2].mode, SmtpTlsMode::auto_detect);
  EXPECT_EQ(m.listen[2].endpoint, IpEndpoint::parse("127.0.0.1:2525"));
  EXPECT_EQ(m.spool, fs::path("/srv/spool"));
  EXPECT_EQ(m.domains, std::vector<std::string>{"example.org"});
  EXPECT_EQ(m.max_message_size, 35ull << 20);
  EXPECT_EQ(m.max_recipients, 100u);
  EXPECT_EQ(m.greeting_delay, milliseconds(500));
  EXPECT_EQ(m.command_timeout, milliseconds(300'000));
  EXPECT_EQ(m.data_timeout, milliseconds(600'000));
  EXPECT_EQ(m.max_connections_per_ip, 20u);
  EXPECT_EQ(m.max_connections, 200u);
  EXPECT_EQ(m.max_queued_verifications, 64u);
  EXPECT_EQ(m.unauthenticated_timeout, milliseconds(30'000));
  EXPECT_EQ(m.max_junk_commands, 100u);
  EXPECT_EQ(m.auth_failure_delay, milliseconds(2'000));
  // Tunnel clients are authenticated by their tunnel identity, not trusted by address.
  EXPECT_TRUE(m.trusted_networks.empty());
  EXPECT_FALSE(m.senders);
  EXPECT_TRUE(m.sender_check);
  EXPECT_FALSE(m.recipients);
  EXPECT_EQ(m.messages_per_hour, 200u);
  EXPECT_EQ(m.recipients_per_hour, 1000u);
  EXPECT_EQ(m.maildir_mode, 0600u);
  EXPECT_FALSE(m.maildir_group);
}

TEST(Config, SmtpIdentityKeys) {
  Config c = parse_config(std::string(smtp_text) +
                              "senders = \"senders\"\nrecipients = \"/etc/postern/recipients\"\n"
                              "messages_per_hour = 0\nrecipients_per_hour = 50\nmaildir_mode = \"0660\"\n"
                              "maildir_group = \"vmail\"\ntrusted_networks = [\"192.0.2.0/24\"]\n",
                          "/srv/site.toml");
  const auto& m = *c.smtp;
  EXPECT_EQ(m.senders, fs::path("/srv/senders"));
  EXPECT_EQ(m.recipients, fs::path("/etc/postern/recipients"));
  EXPECT_EQ(m.messages_per_hour, 0u);
  EXPECT_EQ(m.recipients_per_hour, 50u);
  EXPECT_EQ(m.maildir_mode, 0660u);
  EXPECT_EQ(m.maildir_group, "vmail");
  ASSERT_EQ(m.trusted_networks.size(), 1u);
  EXPECT_FALSE(parse_config(std::string(smtp_text) + "sender_check = false\n", "/srv/site.toml").smtp->sender_check);
}

TEST(Config, SmtpOnlyHasNoTrustedNetworks) {
  Config c = parse_config(smtp_text, "/srv/mail.toml");
  EXPECT_FALSE(c.server);
  ASSERT_TRUE(c.smtp);
  EXPECT_TRUE(c.smtp->trusted_networks.empty());
}

TEST(Config, ExplicitValues) {
  Config c = parse_config(std::string(server_text) + R"(data_port = 4500
users = "users"
auth = "both"
routes = ["10.77.0.0/24", "192.168.1.0/24"]
dns = ["10.77.0.1"]
dns_domains = ["Site.Example", "~intranet.site.example"]
mtu = 1380
tun_queue_length = 4000
keepalive = "5s"
dead_after = "1m"
cipher = "chacha20-poly1305"
client_to_client = true
[daemon]
user = "postern"
log_level = "debug"
status_socket = "run/p.sock"
)",
                          "/srv/site.toml");
  const auto& s = *c.server;
  EXPECT_EQ(s.data_port, 4500);
  EXPECT_EQ(s.auth, AuthMode::both);
  EXPECT_EQ(s.users, fs::path("/srv/users"));
  EXPECT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.dns.at(0).to_string(), "10.77.0.1");
  ASSERT_EQ(s.dns_domains.size(), 2u);
  EXPECT_EQ(s.dns_domains[0].to_string(), "site.example");
  EXPECT_EQ(s.dns_domains[1].to_string(), "~intranet.site.example");
  EXPECT_EQ(s.mtu, 1380u);
  EXPECT_EQ(s.tun_queue_length, 4000u);
  EXPECT_EQ(s.dead_after, milliseconds(60'000));
  EXPECT_EQ(s.cipher, Cipher::chacha20_poly1305);
  EXPECT_TRUE(s.client_to_client);
  EXPECT_EQ(c.daemon.user, "postern");
  EXPECT_EQ(c.daemon.log_level, log::Level::debug);
  EXPECT_EQ(c.daemon.status_socket, fs::path("/srv/run/p.sock"));
}

TEST(Config, Client) {
  Config c = parse_config(R"([tunnel]
server = "vpn.example.org:443"
server_fingerprint = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"
user = "alice"
password_file = "alice.pass"
)",
                          "/home/a/laptop.toml");
  ASSERT_TRUE(c.client);
  EXPECT_FALSE(c.server);
  EXPECT_EQ(c.client->servers, (std::vector<HostPort>{{"vpn.example.org", 443}}));
  EXPECT_EQ(c.client->server_order, ServerOrder::ordered);
  EXPECT_EQ(c.client->connect_timeout, milliseconds(5'000));
  EXPECT_EQ(c.client->connect_attempt_delay, milliseconds(250));
  EXPECT_FALSE(c.client->server_name);
  EXPECT_EQ(c.client->name_to_verify(c.client->servers.front()), "vpn.example.org");
  EXPECT_EQ(c.client->server_fingerprint->substr(0, 6), "AB:CD:");
  EXPECT_EQ(c.client->password_file, fs::path("/home/a/alice.pass"));
  EXPECT_FALSE(c.client->cipher);
  EXPECT_EQ(c.client->keepalive, milliseconds(10'000));
  EXPECT_EQ(c.client->fallback_after, milliseconds(3'000));
  EXPECT_EQ(c.client->tun_queue_length, 1000u);
  EXPECT_TRUE(c.client->apply_dns);
  EXPECT_TRUE(c.client->ipv6);
  EXPECT_EQ(c.client->dns_backend, DnsBackend::auto_detect);
  EXPECT_EQ(c.client->dns_state_dir, fs::path("/run/postern"));
}

// Several site servers: the list in order, each name verified against its own certificate
// unless server_name overrides it for all.
TEST(Config, ClientServerList) {
  Config c = parse_config(R"([tunnel]
servers = ["a.site.example:8443", "192.0.2.7:443",
           "[2001:db8::7]:443"]
server_order = "random"
connect_timeout = "2s"
connect_attempt_delay = "100ms"
ca = "ca.pem"
)",
                          "/home/a/laptop.toml");
  ASSERT_TRUE(c.client);
  const auto& s = c.client->servers;
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], (HostPort{"a.site.example", 8443}));
  EXPECT_EQ(s[1], (HostPort{"192.0.2.7", 443}));
  EXPECT_EQ(s[2], (HostPort{"2001:db8::7", 443}));
  EXPECT_EQ(c.client->server_order, ServerOrder::random);
  EXPECT_EQ(c.client->connect_timeout, milliseconds(2'000));
  EXPECT_EQ(c.client->connect_attempt_delay, milliseconds(100));
  EXPECT_EQ(c.client->name_to_verify(s[0]), "a.site.example");
  EXPECT_EQ(c.client->name_to_verify(s[1]), "192.0.2.7");

  Config pinned = parse_config("[tunnel]\nservers = [\"10.0.0.1:1\", \"10.0.0.2:1\"]\nserver_name = \"vpn.site\"\nca = \"ca\"\n",
                               "/x/l.toml");
  EXPECT_EQ(pinned.client->name_to_verify(pinned.client->servers[1]), "vpn.site");
}

TEST(Config, ClientServerListErrors) {
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"[tunnel]\nserver = \"a:1\"\nservers = [\"b:1\"]\nca = \"c\"\n", "site.toml:3: [tunnel] servers: set server or servers, not both"},
      {"[tunnel]\nservers = []\nca = \"c\"\n", "site.toml:2: [tunnel] servers: at least one server is required"},
      {"[tunnel]\nservers = [\"a:1\",\n  \"b\"]\nca = \"c\"\n", "site.toml:3: [tunnel] servers: expected \"host:port\" like \"vpn.example.org:443\", got \"b\""},
      {"[tunnel]\nservers = \"a:1\"\nca = \"c\"\n", "site.toml:2: [tunnel] servers: expected a list of \"host:port\""},
      {"[tunnel]\nservers = [\"a:1\", \"b:1\", \"a:1\"]\nca = \"c\"\n", "site.toml:2: [tunnel] servers: \"a:1\" is listed twice"},
      {"[tunnel]\nservers = [\"a:1\", \"b:1\"]\nserver_order = \"roundrobin\"\nca = \"c\"\n",
       "site.toml:3: [tunnel] server_order: expected \"ordered\" or \"random\", got \"roundrobin\""},
      {"[tunnel]\nserver = \"a:1\"\nserver_order = \"random\"\nca = \"c\"\n", "site.toml:3: [tunnel] server_order: only used with two or more servers"},
      {"[tunnel]\nservers = [\"a:1\"]\nconnect_timeout = \"10ms\"\nca = \"c\"\n", "site.toml:3: [tunnel] connect_timeout: must be from 100ms to 2m"},
      {"[tunnel]\nlisten = \"0.0.0.0:1\"\nservers = [\"a:1\"]\n", "site.toml:3: [tunnel] servers: a [tunnel] is either a server"},
      {"[tunnel]\nservers = [\"a:1\"]\nfallback_after = \"1s\"\nca = \"c\"\n", "site.toml:3: [tunnel] fallback_after: must be 2s to 60s"},
      {"[tunnel]\nservers = [\"a:1\"]\nconnect_attempt_delay = \"50ms\"\nca = \"c\"\n",
       "site.toml:3: [tunnel] connect_attempt_delay: must be from 100ms to 2s"},
      {"[tunnel]\nservers = [\"a:1\"]\nconnect_attempt_delay = \"3s\"\nca = \"c\"\n",
       "site.toml:3: [tunnel] connect_attempt_delay: must be from 100ms to 2s"},
      {"[tunnel]\nservers = [\"a:1\"]\nfallback_after = \"2m\"\nca = \"c\"\n", "site.toml:3: [tunnel] fallback_after: must be 2s to 60s"},
  };
  for (const auto& c : cases) {
    std::string err;
    try {
      parse_config(c.text, "site.toml");
    } catch (const ConfigError& e) {
      err = e.what();
    }
    EXPECT_EQ(err.rfind(c.want, 0), 0u) << "got: " << err << "\nwant prefix: " << c.want;
  }
  std::string many = "[tunnel]\nca = \"c\"\nservers = [";
  for (int i = 0; i < 33; ++i) many += (i ? ", \"h" : "\"h") + std::to_string(i) + ":1\"";
  many += "]\n";
  try {
    parse_config(many, "site.toml");
    ADD_FAILURE() << "33 servers accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "site.toml:3: [tunnel] servers: at most 32 servers, got 33");
  }
}

TEST(Config, ClientIpv6Off) {
  Config c = parse_config("[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\nipv6 = false\n", "/etc/postern/laptop.toml");
  ASSERT_TRUE(c.client);
  EXPECT_FALSE(c.client->ipv6);
}

TEST(Config, ClientDns) {
  Config c = parse_config("[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\napply_dns = false\n"
                          "dns_backend = \"file\"\ndns_state_dir = \"state\"\n",
                          "/etc/postern/laptop.toml");
  ASSERT_TRUE(c.client);
  EXPECT_FALSE(c.client->apply_dns);
  EXPECT_EQ(c.client->dns_backend, DnsBackend::file);
  EXPECT_EQ(to_string(c.client->dns_backend), "file");
  EXPECT_EQ(c.client->dns_state_dir, fs::path("/etc/postern/state"));
}

TEST(Config, ClientFallbackAfter) {
  Config c = parse_config("[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\nfallback_after = \"10s\"\n",
                          "/etc/postern/laptop.toml");
  ASSERT_TRUE(c.client);
  EXPECT_EQ(c.client->fallback_after, milliseconds(10'000));
}

TEST(Config, ClientLeakProtection) {
  const std::string base = "[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\n";
  Config off = parse_config(base, "/etc/postern/laptop.toml");
  ASSERT_TRUE(off.client);
  EXPECT_FALSE(off.client->leak_protection);
  EXPECT_TRUE(off.client->offload);
  EXPECT_EQ(off.client->fwmark, 0x7073u);
  EXPECT_EQ(off.client->table, 7073u);

  Config on = parse_config(base + "leak_protection = true\nfwmark = 0xca6c\ntable = 51820\noffload = false\n",
                           "/etc/postern/laptop.toml");
  EXPECT_FALSE(on.client->offload);
  ASSERT_TRUE(on.client);
  EXPECT_TRUE(on.client->leak_protection);
  EXPECT_EQ(on.client->fwmark, 0xca6cu);
  EXPECT_EQ(on.client->table, 51820u);
  EXPECT_EQ(on.client->leak_protection_ipv6, Ipv6LeakPolicy::block);
  Config allow = parse_config(base + "leak_protection = true\nleak_protection_ipv6 = \"allow\"\n",
                              "/etc/postern/laptop.toml");
  EXPECT_EQ(allow.client->leak_protection_ipv6, Ipv6LeakPolicy::allow);

  struct Case {
    std::string extra;
    std::string want;
  } cases[] = {
      {"leak_protection = \"yes\"\n", "laptop.toml:4: [tunnel] leak_protection: expected true or false"},
      {"fwmark = 0\n", "laptop.toml:4: [tunnel] fwmark: expected an integer from 1 to 4294967295"},
      {"table = 254\n", "laptop.toml:4: [tunnel] table: 253, 254 and 255 are the kernel's own tables"},
      {"table = 0\n", "laptop.toml:4: [tunnel] table: expected an integer from 1"},
      {"leak_protection = true\nleak_protection_ipv6 = \"tunnel\"\n",
       "laptop.toml:5: [tunnel] leak_protection_ipv6: expected one of \"block\", \"allow\""},
      {"leak_protection_ipv6 = \"allow\"\n",
       "laptop.toml:4: [tunnel] leak_protection_ipv6: has no effect without leak_protection = true"},
  };
  for (const auto& c : cases) {
    std::string err;
    try {
      parse_config(base + c.extra, "/etc/postern/laptop.toml");
    } catch (const ConfigError& e) {
      err = e.what();
    }
    EXPECT_EQ(err.find("/etc/postern/" + c.want), 0u) << "got: " << err << "\nwant prefix: " << c.want;
  }
}

// Each error must name the file, the line of the offending key and the key itself.
TEST(Config, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"[tunnel]\nlisten = \"0.0.0.0:443\"\ncertificate = \"c\"\nprivate_key = \"k\"\nclient_ca = \"ca\"\n\n"
       "pool = \"10.77.0.0\"\n",
       "site.toml:7: [tunnel] pool: expected an IPv4 CIDR like \"10.77.0.0/24\", got \"10.77.0.0\""},
      {std::string(server_text) + "keepalve = \"5s\"\n", "site.toml:7: [tunnel] keepalve: unknown key"},
      {std::string(server_text) + "mtu = \"big\"\n", "site.toml:7: [tunnel] mtu: expected an integer from 576 to 9000, got \"big\""},
      {std::string(server_text) + "mtu = 100\n", "site.toml:7: [tunnel] mtu: expected an integer"},
      {std::string(server_text) + "tun_queue_length = 8\n", "site.toml:7: [tunnel] tun_queue_length: expected an integer from 16 to 100000, got integer 8"},
      {"[tunnel]\nservers = [\"a:1\"]\nca = \"c\"\ntun_queue_length = 0\n", "site.toml:4: [tunnel] tun_queue_length: expected an integer from 16 to 100000, got integer 0"},
      {std::string(server_text) + "keepalive = 10\n", "site.toml:7: [tunnel] keepalive: expected a duration"},
      {std::string(server_text) + "server = \"a:1\"\n", "site.toml:7: [tunnel] server: a [tunnel] is either a server"},
      {std::string(server_text) + "routes = [\"10.0.0.0/8\",\n  \"10.1.2.3/8\"]\n", "site.toml:8: [tunnel] routes: expected a CIDR like"},
      {std::string(server_text) + "pool6 = \"10.78.0.0/24\"\n", "site.toml:7: [tunnel] pool6: expected an IPv6 CIDR like \"fd00:77::/112\""},
      {std::string(server_text) + "pool6 = \"fd00:77::1/112\"\n", "site.toml:7: [tunnel] pool6: expected an IPv6 CIDR"},
      {std::string(server_text) + "pool6 = \"fd00:77::/48\"\n", "site.toml:7: [tunnel] pool6: prefix length must be 64..124, got fd00:77::/48"},
      {std::string(server_text) + "pool6 = \"fd00:77::/126\"\n", "site.toml:7: [tunnel] pool6: prefix length must be 64..124"},
      {std::string(server_text) + "pool6 = \"fd00:77::/112\"\nmtu = 1200\n", "site.toml:8: [tunnel] mtu: must be at least 1280 with pool6"},
      {std::string(server_text) + "routes = [\"10.0.0.0/8\", \"fd00:1::/64\"]\n", "site.toml:7: [tunnel] routes: IPv6 route fd00:1::/64 needs pool6"},
      {std::string(server_text) + "pool6 = \"fd00:77::/112\"\nroutes = [\"fd00:1::1/64\"]\n", "site.toml:8: [tunnel] routes: expected a CIDR like"},
      {std::string(server_text) + "dns = [\"fd00:77::1\"]\n", "site.toml:7: [tunnel] dns: IPv6 server fd00:77::1 needs pool6"},
      {std::string(server_text) + "dns = [\"fd00:77::1%eth0\"]\n", "site.toml:7: [tunnel] dns: expected an IP address"},
      {std::string(server_text) + "dns = [\"10.77.0.1\"]\ndns_domains = [\"ok.example\",\n  \"bad_name.example\"]\n",
       "site.toml:9: [tunnel] dns_domains: expected a DNS domain like \"site.example\" or \"~site.example\", got \"bad_name.example\""},
      {std::string(server_text) + "dns = [\"10.77.0.1\"]\ndns_domains = [\"a.\"]\n", "site.toml:8: [tunnel] dns_domains: expected a DNS domain"},
      {std::string(server_text) + "dns_domains = [\"site.example\"]\n", "site.toml:7: [tunnel] dns_domains: needs dns"},
      {std::string(server_text) + "dns = [\"10.77.0.1\"]\ndns_domains = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]\n",
       "site.toml:8: [tunnel] dns_domains: at most 16 domains can be pushed"},
      {"[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\ndns_backend = \"resolvconf\"\n", "site.toml:4: [tunnel] dns_backend: expected one of \"auto\", \"resolved\", \"file\""},
      {"[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\napply_dns = 1\n", "site.toml:4: [tunnel] apply_dns: expected true or false"},
      {std::string(server_text) + "auth = \"password\"\n", "site.toml:7: [tunnel] auth: \"password\" needs users"},
      {std::string(server_text) + "cipher = \"rc4\"\n", "site.toml:7: [tunnel] cipher: expected \"aes-256-gcm\" or \"chacha20-poly1305\", got \"rc4\""},
      {std::string(server_text) + "dead_after = \"5s\"\n", "site.toml:7: [tunnel] dead_after: must be at least twice keepalive"},
      {std::string(server_text) + "dead_after = \"19s\"\n", "site.toml:7: [tunnel] dead_after: must be at least twice keepalive"},
      {std::string(server_text) + "max_pending_handshakes = 0\n", "site.toml:7: [tunnel] max_pending_handshakes: expected an integer from 1"},
      {std::string(server_text) + "max_pending_handshakes = 8\nmax_pending_handshakes_per_source = 9\n",
       "site.toml:8: [tunnel] max_pending_handshakes_per_source: must not exceed max_pending_handshakes"},
      {std::string(server_text) + "max_queued_verifications = \"many\"\n", "site.toml:7: [tunnel] max_queued_verifications: expected an integer from 1 to 100000"},
      {std::string(smtp_text) + "max_queued_verifications = 0\n", "site.toml:10: [smtp] max_queued_verifications: expected an integer from 1 to 100000"},
      {std::string(smtp_text) + "unauthenticated_timeout = \"500ms\"\n", "site.toml:10: [smtp] unauthenticated_timeout: must be at least 1s"},
      {std::string(smtp_text) + "max_junk_commands = -1\n", "site.toml:10: [smtp] max_junk_commands: expected an integer from 1 to 100000"},
      {"[tunnel]\nlisten = \"vpn.example.org:443\"\n", "site.toml:2: [tunnel] listen: expected \"ip:port\""},
      {"[tunnel]\nlisten = \"0.0.0.0:443\"\n", "site.toml:1: [tunnel] certificate: required key is missing"},
      {"[tunnel]\nserver = \"vpn:443\"\n", "site.toml:1: [tunnel] ca: either ca or server_fingerprint is required"},
      {"[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\nuser = \"bob\"\n", "site.toml:4: [tunnel] user: password_file is required"},
      {"[tunnel]\nserver = \"vpn:443\"\nca = \"ca.pem\"\ndata_port = 4500\n",
       "site.toml:4: [tunnel] data_port: not a client key: the server announces its data port"},
      {"[tunnel]\nmtu = 1400\n", "site.toml:1: [tunnel]: needs listen"},
      {std::string(smtp_text) + "max_message_size = \"lots\"\n", "site.toml:10: [smtp] max_message_size: expected a size"},
      {std::string(smtp_text) + "typo = 1\n", "site.toml:10: [smtp] typo: unknown key"},
      {"[smtp]\nlisten = [\"0.0.0.0:587\"]\n", "site.toml:2: [smtp] listen: expected \"ip:port mode\""},
      // Found by fuzz_config: a trailing space and no mode used to throw std::out_of_range.
      {"[smtp]\nlisten = [\"0.0.0.0:587 \"]\n", "site.toml:2: [smtp] listen: expected \"ip:port mode\""},
      {std::string(smtp_text) + "[daemon]\nlog_level = \"loud\"\n", "site.toml:11: [daemon] log_level: expected one of"},
      {std::string(server_text) + "[daemon]\ncapture = \"x\"\n", "site.toml:8: [daemon] capture: unknown key"},
      {std::string(server_text) + "[daemon]\nmetrics = \"localhost:9477\"\n", "site.toml:8: [daemon] metrics: expected an IPv4 \"ip:port\" like \"127.0.0.1:9477\", got \"localhost:9477\""},
      {std::string(server_text) + "[daemon]\nmetrics = \"127.0.0.1:0\"\n", "site.toml:8: [daemon] metrics: expected an IPv4 \"ip:port\""},
      {std::string(server_text) + "[daemon]\nmetrics = 9477\n", "site.toml:8: [daemon] metrics: expected an IPv4 \"ip:port\""},
      {std::string(server_text) + "[daemon]\nmetrics = \"[::1]:9477\"\n", "site.toml:8: [daemon] metrics: expected an IPv4 \"ip:port\""},
      {std::string(server_text) + "[daemon]\nmetrics = \"0.0.0.0:9477\"\n", "site.toml:8: [daemon] metrics: \"0.0.0.0:9477\" is not a loopback address; set metrics_public = true"},
      {std::string(server_text) + "[daemon]\nmetrics = \"127.1.2.3:9477\"\nmetrics_public = true\n", "site.toml:9: [daemon] metrics_public: metrics is a loopback address"},
      {std::string(server_text) + "[daemon]\nmetrics_public = true\n", "site.toml:8: [daemon] metrics_public: only used with metrics"},
      {std::string(server_text) + "[daemon]\nmetrics = \"10.0.0.1:9477\"\nmetrics_public = \"yes\"\n", "site.toml:9: [daemon] metrics_public: expected true or false"},
      {std::string(server_text) + "[daemon]\nmetrics = \"127.0.0.1:9477\"\nmetrics_public = true\n", "site.toml:9: [daemon] metrics_public: metrics is a loopback address"},
      {std::string(smtp_text) + "[smtp.relay]\ntls = \"verify\"\n", "site.toml:10: [smtp.relay] hosts: required key is missing"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1 .x\"]\n", "site.toml:11: [smtp.relay] hosts: expected a relay host"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\ntls = \"maybe\"\n", "site.toml:12: [smtp.relay] tls: expected \"verify\", \"encrypt\" or \"none\""},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\ntls = \"encrypt\"\nca = \"ca.pem\"\n", "site.toml:13: [smtp.relay] ca: only used with tls = \"verify\""},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\ntls = \"none\"\nuser = \"u\"\npassword_file = \"p\"\n", "site.toml:13: [smtp.relay] user: refusing to send a password"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nuser = \"u\"\n", "site.toml:12: [smtp.relay] user: password_file is required"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nhost = \"mx2\"\n", "site.toml:12: [smtp.relay] host: unknown key"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nconnect_timeout = \"0s\"\n", "site.toml:12: [smtp.relay] connect_timeout: must be greater than 0"},
      {std::string(smtp_text) + "relay = \"mx1\"\n", "site.toml:10: [smtp] relay: expected a [smtp.relay] section"},
      {std::string(smtp_text) + "[smtp.queue]\nretry_min = \"10m\"\nretry_max = \"1m\"\n", "site.toml:12: [smtp.queue] retry_max: must not be less than retry_min"},
      {std::string(smtp_text) + "[smtp.queue]\nlifetime = 5\n", "site.toml:11: [smtp.queue] lifetime: expected a duration"},
      {std::string(smtp_text) + "[smtp.queue]\nretry_min = \"100ms\"\n", "site.toml:11: [smtp.queue] retry_min: must be at least 1s"},
      {std::string(smtp_text) + "maildir_mode = \"0644x\"\n", "site.toml:10: [smtp] maildir_mode: expected an octal file mode"},
      {std::string(smtp_text) + "maildir_mode = \"0755\"\n", "site.toml:10: [smtp] maildir_mode: expected an octal file mode"},
      {std::string(smtp_text) + "maildir_mode = \"0400\"\n", "site.toml:10: [smtp] maildir_mode: expected an octal file mode"},
      {std::string(smtp_text) + "messages_per_hour = -1\n", "site.toml:10: [smtp] messages_per_hour: expected an integer from 0"},
      {std::string(smtp_text) + "sender_check = \"no\"\n", "site.toml:10: [smtp] sender_check: expected true or false"},
      {std::string(smtp_text) + "senders = \"s\"\nsender_check = false\n", "site.toml:10: [smtp] senders: a sender map with sender_check = false"},
      {std::string(smtp_text) + "recipients_per_hour = 20000000\n", "site.toml:10: [smtp] recipients_per_hour: expected an integer from 0 to 10000000"},
      {std::string(smtp_text) + "recipients = \"\"\n", "site.toml:10: [smtp] recipients: expected a non-empty path"},
      {std::string(smtp_text) + "senders = 7\n", "site.toml:10: [smtp] senders: expected a non-empty path"},
      {std::string(smtp_text) + "maildir_group = \"\"\n", "site.toml:10: [smtp] maildir_group: expected a string"},
      {std::string(smtp_text) + "trusted_networks = [\"10.0.0.1/8\"]\n", "site.toml:10: [smtp] trusted_networks: expected an IPv4 CIDR"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nreuse_idle = \"soon\"\n", "site.toml:12: [smtp.relay] reuse_idle: expected a duration"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nmax_messages_per_connection = 0\n", "site.toml:12: [smtp.relay] max_messages_per_connection: expected an integer from 1"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\nhelo_name = \"a b\"\n", "site.toml:12: [smtp.relay] helo_name: expected a host name"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\ntls = \"none\"\nserver_name = \"mx1\"\n", "site.toml:13: [smtp.relay] server_name: only used with tls = \"verify\""},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = []\n", "site.toml:11: [smtp.relay] hosts: at least one relay host is required"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\npassword_file = \"p\"\n", "site.toml:12: [smtp.relay] password_file: user is required"},
      {std::string(smtp_text) + "[smtp.relay]\nhosts = [\"mx1\"]\ncommand_timeout = \"0s\"\n", "site.toml:12: [smtp.relay] command_timeout: must be greater than 0"},
      {std::string(smtp_text) + "[smtp.queue]\nretry = \"1m\"\n", "site.toml:11: [smtp.queue] retry: unknown key"},
      {std::string(smtp_text) + "[smtp.queue]\nlifetime = \"1s\"\n", "site.toml:11: [smtp.queue] lifetime: must not be less than retry_min"},
      {"[tunel]\nlisten = 1\n", "site.toml:1: tunel: unknown section"},
      {"[tunnel]\nlisten = \"0.0.0.0:443\n", "site.toml:2: "},
      {"", "site.toml: nothing to run"},
  };
  for (const auto& c : cases) {
    std::string err = error_of(c.text);
    EXPECT_EQ(err.find("/etc/postern/" + c.want), 0u) << "got: " << err << "\nwant prefix: " << c.want
                                                      << "\ninput:\n" << c.text;
  }
}

TEST(Config, Metrics) {
  Config off = parse_config(server_text, "/etc/postern/site.toml");
  EXPECT_FALSE(off.daemon.metrics);
  EXPECT_FALSE(off.daemon.metrics_public);
  Config local = parse_config(std::string(server_text) + "[daemon]\nmetrics = \"127.0.0.1:9477\"\n", "/etc/postern/site.toml");
  ASSERT_TRUE(local.daemon.metrics);
  EXPECT_EQ(*local.daemon.metrics, IpEndpoint::parse("127.0.0.1:9477"));
  EXPECT_FALSE(local.daemon.metrics_public);
  Config other_loopback = parse_config(std::string(server_text) + "[daemon]\nmetrics = \"127.0.0.53:9477\"\n",
                                      "/etc/postern/site.toml");
  EXPECT_EQ(*other_loopback.daemon.metrics, IpEndpoint::parse("127.0.0.53:9477"));
  Config pub = parse_config(std::string(server_text) + "[daemon]\nmetrics = \"10.0.0.1:9477\"\nmetrics_public = true\n",
                            "/etc/postern/site.toml");
  EXPECT_EQ(*pub.daemon.metrics, IpEndpoint::parse("10.0.0.1:9477"));
  EXPECT_TRUE(pub.daemon.metrics_public);
}

TEST(Config, RelayAndQueueSections) {
  Config c = parse_config(std::string(server_text) + smtp_text + R"(
[smtp.relay]
hosts = ["mx1.site.example", "192.0.2.25:587", "[2001:db8::25]:2525"]
ca = "pki/site-ca.pem"
server_name = "mail.site.example"
user = "postern"
password_file = "relay.pw"
connect_timeout = "5s"
reuse_idle = "1s"
max_messages_per_connection = 7

[smtp.queue]
retry_min = "30s"
retry_max = "2h"
lifetime = "3d"
)", "/srv/site.toml");
  ASSERT_TRUE(c.smtp && c.smtp->relay);
  const RelayConfig& r = *c.smtp->relay;
  ASSERT_EQ(r.hosts.size(), 3u);
  EXPECT_EQ(r.hosts[0], (HostPort{"mx1.site.example", 25}));
  EXPECT_EQ(r.hosts[1], (HostPort{"192.0.2.25", 587}));
  EXPECT_EQ(r.hosts[2], (HostPort{"2001:db8::25", 2525}));
  EXPECT_EQ(r.tls, RelayTlsPolicy::verify);  // the default
  EXPECT_EQ(r.ca, fs::path("/srv/pki/site-ca.pem"));
  EXPECT_EQ(r.server_name, "mail.site.example");
  EXPECT_EQ(r.user, "postern");
  EXPECT_EQ(r.password_file, fs::path("/srv/relay.pw"));
  EXPECT_EQ(r.helo_name, "mail.example.org");  // [smtp] hostname
  EXPECT_EQ(r.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(r.command_timeout, std::chrono::minutes(5));
  EXPECT_EQ(r.reuse_idle, std::chrono::seconds(1));
  EXPECT_EQ(r.max_messages_per_connection, 7u);
  EXPECT_EQ(c.smtp->queue.retry_min, std::chrono::seconds(30));
  EXPECT_EQ(c.smtp->queue.retry_max, std::chrono::hours(2));
  EXPECT_EQ(c.smtp->queue.lifetime, std::chrono::hours(72));

  Config plain = parse_config(std::string(smtp_text) + "[smtp.relay]\nhosts = [\"10.0.0.25:25\"]\ntls = \"none\"\n",
                              "/srv/site.toml");
  EXPECT_EQ(plain.smtp->relay->tls, RelayTlsPolicy::none);
  EXPECT_EQ(plain.smtp->queue.lifetime, std::chrono::hours(24 * 5));  // the default
  EXPECT_FALSE(parse_config(smtp_text, "/srv/site.toml").smtp->relay);
}

TEST(Config, LoadConfigReadsFileAndResolvesAgainstItsDirectory) {
  fs::path dir = fs::temp_directory_path() / ("postern_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir / "sub");
  fs::path file = dir / "sub" / "site.toml";
  std::ofstream(file) << server_text;
  Config c = load_config(file);
  EXPECT_EQ(c.file, file);
  EXPECT_EQ(c.server->certificate, dir / "sub" / "pki" / "server.pem");
  std::ofstream(file) << "[tunnel]\nlisten = 5\n";
  try {
    load_config(file);
    ADD_FAILURE() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find(file.string() + ":2: [tunnel] listen:"), 0u) << e.what();
  }
  EXPECT_THROW(load_config(dir / "missing.toml"), ConfigError);
  fs::remove_all(dir);
}

TEST(Config, PasswordFileMustBePrivate) {
  fs::path file = fs::temp_directory_path() / ("postern_pw_" + std::to_string(::getpid()));
  std::ofstream(file) << "s3cret\n";
  ::chmod(file.c_str(), 0644);
  EXPECT_THROW(read_password_file(file), ConfigError);
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(read_password_file(file).view(), "s3cret");
  fs::remove(file);
}

}  // namespace
}  // namespace postern::config

namespace postern::config {
namespace {

const char* const ldap_server = R"([tunnel]
listen = "0.0.0.0:443"
certificate = "server.pem"
private_key = "server.key"
pool = "10.77.0.0/24"
auth = "password"
)";

TEST(Config, AuthBackends) {
  Config c = parse_config(std::string(ldap_server) + R"X(
[auth]
backend = "ldap"
[auth.ldap]
uris = ["ldaps://ldap1.site.example", "ldaps://ldap2.site.example:636"]
ca = "ldap-ca.pem"
base = "ou=people,dc=site,dc=example"
bind_dn = "cn=postern,dc=site,dc=example"
bind_password_file = "ldap.pass"
group_filter = "(&(cn=vpn)(member=%d))"
timeout = "2s"
)X", "/etc/postern/site.toml");
  EXPECT_EQ(c.auth.backend, PasswordBackendKind::ldap);
  ASSERT_TRUE(c.auth.ldap);
  EXPECT_EQ(c.auth.ldap->uris.size(), 2u);
  EXPECT_EQ(c.auth.ldap->filter, "(uid=%u)");
  EXPECT_EQ(c.auth.ldap->ca, fs::path("/etc/postern/ldap-ca.pem"));
  EXPECT_EQ(c.auth.ldap->timeout, milliseconds(2000));
  EXPECT_TRUE(c.server->passwords);  // auth = "password" without users: the directory answers

  Config r = parse_config(std::string(ldap_server) + R"X(
[auth]
backend = "radius"
[auth.radius]
servers = ["192.0.2.10", "192.0.2.11:11812"]
secret_file = "radius.secret"
accounting = true
interim_interval = "5m"
)X", "/etc/postern/site.toml");
  ASSERT_TRUE(r.auth.radius);
  EXPECT_EQ(r.auth.radius->servers, (std::vector<HostPort>{{"192.0.2.10", 1812}, {"192.0.2.11", 11812}}));
  EXPECT_EQ(r.auth.radius->accounting_servers, (std::vector<HostPort>{{"192.0.2.10", 1813}, {"192.0.2.11", 1813}}));
  EXPECT_EQ(r.auth.radius->interim_interval, milliseconds(300'000));
  EXPECT_EQ(r.auth.radius->tries, 2u);
  EXPECT_EQ(r.auth.radius->nas_identifier, "postern");
  EXPECT_TRUE(r.auth.radius->require_message_authenticator);

  Config f = parse_config(server_text, "/etc/postern/site.toml");
  EXPECT_EQ(f.auth.backend, PasswordBackendKind::file);
  EXPECT_FALSE(f.server->passwords);
}

TEST(Config, AuthErrorsNameFileLineAndKey) {
  const std::string head = std::string(ldap_server) + "[auth]\n";  // [auth] is on line 7
  const std::string ldap = head + "backend = \"ldap\"\n[auth.ldap]\nbase = \"dc=ex\"\n";  // uris goes on line 11
  struct Case {
    std::string text, error;
  };
  const Case cases[] = {
      {head + "backend = \"kerberos\"\n",
       "site.toml:8: [auth] backend: expected one of \"file\", \"ldap\", \"radius\", got \"kerberos\""},
      {head + "backend = \"ldap\"\n", "site.toml:8: [auth] backend: \"ldap\" needs an [auth.ldap] section"},
      {head + "[auth.ldap]\nuris = [\"ldaps://x\"]\n", "site.toml:8: [auth] ldap: [auth.ldap] is only read with backend = \"ldap\""},
      {ldap + "uris = [\"ldap://ldap.site.example\"]\n",
       "site.toml:11: [auth.ldap] uris: \"ldap://ldap.site.example\" is cleartext: use ldaps:// or set starttls = true (passwords are never sent in the clear)"},
      {ldap + "uris = [\"ldaps://x\"]\nstarttls = true\n", "site.toml:12: [auth.ldap] starttls: only for ldap:// URIs (\"ldaps://x\" is already TLS)"},
      {ldap + "uris = [\"http://x\"]\n",
       "site.toml:11: [auth.ldap] uris: expected an LDAP URI like"},
      {ldap + "uris = [\"ldaps://x\"]\nfilter = \"(uid=alice)\"\n", "site.toml:12: [auth.ldap] filter: must contain %u (the login name)"},
      {ldap + "uris = [\"ldaps://x\"]\nfilter = \"(uid=%u\"\n", "site.toml:12: [auth.ldap] filter: expected an LDAP filter in parentheses"},
      {ldap + "uris = [\"ldaps://x\"]\nfilter = \"(uid=%x)\"\n", "site.toml:12: [auth.ldap] filter: expected an LDAP filter"},
      {ldap + "uris = [\"ldaps://x\"]\nbind_dn = \"cn=a\"\n", "site.toml:12: [auth.ldap] bind_dn: bind_password_file is required with bind_dn"},
      {ldap + "uris = [\"ldaps://x\"]\ngroup_base = \"dc=ex\"\n", "site.toml:12: [auth.ldap] group_base: only used with group_filter"},
      {ldap + "uris = [\"ldaps://x\"]\ntimeout = \"10m\"\n", "site.toml:12: [auth.ldap] timeout: must be from 100ms to 2m"},
      {ldap + "uris = [\"ldaps://x\"]\nurl = \"x\"\n", "site.toml:12: [auth.ldap] url: unknown key"},
      {head + "backend = \"radius\"\n[auth.radius]\nservers = [\"radius.site.example\"]\n",
       "site.toml:10: [auth.radius] servers: expected a RADIUS server IP"},
      {head + "backend = \"radius\"\n[auth.radius]\nservers = [\"192.0.2.1\"]\n", "[auth.radius] secret_file: required key is missing"},
      {head + "backend = \"radius\"\n[auth.radius]\nservers = [\"192.0.2.1\"]\nsecret_file = \"s\"\ninterim_interval = \"1m\"\n",
       "site.toml:12: [auth.radius] interim_interval: only used with accounting = true"},
      {head + "backend = \"radius\"\n[auth.radius]\nservers = [\"192.0.2.1\"]\nsecret_file = \"s\"\naccounting = true\ninterim_interval = \"5s\"\n",
       "site.toml:13: [auth.radius] interim_interval: must be 0 (no interim updates) or at least 10s"},
      {head + "backend = \"radius\"\n[auth.radius]\nservers = [\"192.0.2.1\"]\nsecret_file = \"s\"\ntries = 0\n",
       "site.toml:12: [auth.radius] tries: expected an integer from 1 to 10, got integer 0"},
  };
  for (const auto& c : cases) {
    const std::string got = error_of(c.text);
    EXPECT_NE(got.find(c.error), std::string::npos) << "got: " << got << "\nwant: " << c.error;
  }
  // users next to a directory backend would never be asked.
  const std::string with_users = std::string(ldap_server) + "users = \"users.db\"\n[auth]\nbackend = \"radius\"\n"
                                 "[auth.radius]\nservers = [\"192.0.2.1\"]\nsecret_file = \"s\"\n";
  EXPECT_NE(error_of(with_users).find("site.toml:7: [tunnel] users: passwords are answered by [auth] backend = \"radius\""),
            std::string::npos) << error_of(with_users);
  // Accounting is of tunnel sessions.
  const std::string smtp_only = std::string(smtp_text) + "[auth]\nbackend = \"radius\"\n[auth.radius]\n"
                                "servers = [\"192.0.2.1\"]\nsecret_file = \"s\"\naccounting = true\n";
  EXPECT_NE(error_of(smtp_only).find("[auth.radius] accounting: accounts tunnel sessions"), std::string::npos)
      << error_of(smtp_only);
}

}  // namespace
}  // namespace postern::config
