// The TOML configuration loader (see config.hpp): [tunnel] (server and client), [smtp] and
// [daemon], and the whole file; [auth] is in config_auth.cpp. Shape (config_section.hpp): a
// Section wraps one TOML table, hands out typed values while recording which keys were read, and
// finally rejects the keys nobody read (typos). Every error goes through Section::fail so it
// always reads "file:line: [section] key: problem".
#include "common/config.hpp"

#include "common/config_section.hpp"
#include "common/toml_text_guard.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace postern::config {
namespace {

using namespace detail;

constexpr std::string_view cidr_expected = "an IPv4 CIDR like \"10.77.0.0/24\"";

// An IPv4 prefix whose host bits are clear (10.77.0.5/24 is almost always a typo).
std::optional<IpPrefix> parse_network(std::string_view s) {
  auto c = IpPrefix::parse(s);
  if (c && (!c->address.is_v4() || c->has_host_bits())) return std::nullopt;
  return c;
}

constexpr std::string_view cidr6_expected = "an IPv6 CIDR like \"fd00:77::/112\"";
constexpr std::string_view any_cidr_expected = "a CIDR like \"10.77.0.0/24\" or \"fd00:77::/112\"";

// An IPv6 prefix whose host bits are clear.
std::optional<IpPrefix> parse_network6(std::string_view s) {
  auto c = IpPrefix::parse(s);
  if (c && (!c->address.is_v6() || c->has_host_bits())) return std::nullopt;
  return c;
}

// A prefix of either family whose host bits are clear (routes).
std::optional<IpPrefix> parse_any_network(std::string_view s) {
  auto c = IpPrefix::parse(s);
  if (c && c->has_host_bits()) return std::nullopt;
  return c;
}

// "ip:port" or "[v6]:port" with a port a listener can bind explicitly (1..65535).
std::optional<IpEndpoint> parse_ip_endpoint(std::string_view s) {
  auto e = IpEndpoint::parse(s);
  if (e && e->port() == 0) return std::nullopt;
  return e;
}

bool is_host_name(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

std::optional<AuthMode> parse_auth_mode(std::string_view s) {
  if (s == "any") return AuthMode::any;
  if (s == "certificate") return AuthMode::certificate;
  if (s == "password") return AuthMode::password;
  if (s == "both") return AuthMode::both;
  return std::nullopt;
}

std::optional<SmtpListener> parse_listener(std::string_view s) {
  auto space = s.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto endpoint = parse_ip_endpoint(s.substr(0, space));
  auto mode_start = s.find_first_not_of(' ', space);
  if (!endpoint || mode_start == std::string_view::npos) return std::nullopt;  // "ip:port " has no mode
  std::string_view mode = s.substr(mode_start);
  if (mode == "starttls") return SmtpListener{*endpoint, SmtpTlsMode::starttls};
  if (mode == "tls") return SmtpListener{*endpoint, SmtpTlsMode::tls};
  if (mode == "auto") return SmtpListener{*endpoint, SmtpTlsMode::auto_detect};
  return std::nullopt;
}

std::optional<std::string> parse_domain(std::string_view s) {
  if (!is_host_name(s) || s.find('.') == std::string_view::npos) return std::nullopt;
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return out;
}

std::optional<DnsBackend> parse_dns_backend(std::string_view s) {
  for (auto b : {DnsBackend::auto_detect, DnsBackend::resolved, DnsBackend::file}) {
    if (s == to_string(b)) return b;
  }
  return std::nullopt;
}

std::optional<Ipv6LeakPolicy> parse_ipv6_leak_policy(std::string_view s) {
  for (auto p : {Ipv6LeakPolicy::block, Ipv6LeakPolicy::allow}) {
    if (s == to_string(p)) return p;
  }
  return std::nullopt;
}

std::optional<std::string> parse_interface(std::string_view s) {
  // IFNAMSIZ is 16 including the NUL.
  if (s.empty() || s.size() > 15 || s.find_first_of("/ \t:") != std::string_view::npos) return std::nullopt;
  return std::string(s);
}

std::optional<log::Level> parse_level(std::string_view s) {
  if (s == "debug") return log::Level::debug;
  if (s == "info") return log::Level::info;
  if (s == "warning" || s == "warn") return log::Level::warning;
  if (s == "error") return log::Level::error;
  return std::nullopt;
}

std::uint16_t port(Section& s, std::string_view key, std::uint16_t fallback) {
  return static_cast<std::uint16_t>(s.integer(key, 1, 65535).value_or(fallback));
}

// A users file next to a directory backend would be parsed and never asked: refused.
void check_users_key(Section& s, const std::optional<fs::path>& users, const AuthConfig& auth) {
  if (users && auth.backend != PasswordBackendKind::file)
    s.fail("users", "passwords are answered by [auth] backend = \"" + std::string(to_string(auth.backend)) +
                        "\"; remove users (it is only read with backend = \"file\")");
}

void check_auth(Section& s, const TunnelServerConfig& c) {
  bool certs = c.client_ca.has_value();
  bool passwords = c.passwords;
  switch (c.auth) {
    case AuthMode::any:
      if (!certs && !passwords) s.fail("auth", "\"any\" needs client_ca or users (or both, or an [auth] directory backend)");
      break;
    case AuthMode::certificate:
      if (!certs) s.fail("auth", "\"certificate\" needs client_ca");
      break;
    case AuthMode::password:
      if (!passwords) s.fail("auth", "\"password\" needs users (or an [auth] directory backend)");
      break;
    case AuthMode::both:
      if (!certs || !passwords) s.fail("auth", "\"both\" needs client_ca and users (or an [auth] directory backend)");
      break;
  }
}

TunnelServerConfig load_server(Section& s, const AuthConfig& auth) {
  TunnelServerConfig c;
  c.listen = s.required(s.parsed("listen", "\"ip:port\" like \"0.0.0.0:443\"", parse_ip_endpoint), "listen");
  c.data_port = port(s, "data_port", c.listen.port());
  c.certificate = s.required(s.path("certificate"), "certificate");
  c.private_key = s.required(s.path("private_key"), "private_key");
  c.client_ca = s.path("client_ca");
  c.crl = s.path("crl");
  c.deny_list = s.path("deny_list");
  c.users = s.path("users");
  check_users_key(s, c.users, auth);
  c.passwords = c.users.has_value() || auth.backend != PasswordBackendKind::file;
  c.auth = s.parsed("auth", "one of \"any\", \"certificate\", \"password\", \"both\"", parse_auth_mode)
               .value_or(AuthMode::any);
  check_auth(s, c);
  if (c.crl && !c.client_ca) s.fail("crl", "a CRL only makes sense with client_ca");
  c.pool = s.required(s.parsed("pool", cidr_expected, parse_network), "pool");
  if (c.pool.prefix_len < 8 || c.pool.prefix_len > 30)
    s.fail("pool", "prefix length must be 8..30, got " + c.pool.to_string());
  c.pool6 = s.parsed("pool6", cidr6_expected, parse_network6);
  if (c.pool6 && (c.pool6->prefix_len < 64 || c.pool6->prefix_len > 124))
    s.fail("pool6", "prefix length must be 64..124, got " + c.pool6->to_string());
  std::vector<IpPrefix> default_routes{c.pool};
  if (c.pool6) default_routes.push_back(*c.pool6);
  c.routes = s.list("routes", any_cidr_expected, parse_any_network).value_or(default_routes);
  c.dns = s.list("dns", "an IP address like \"10.77.0.1\" or \"fd00:77::1\"", IpAddress::parse)
              .value_or(std::vector<IpAddress>{});
  // IPv6 is pushed only to clients that get an address from pool6: without it an IPv6 route or
  // server could never be reached through the tunnel.
  if (!c.pool6) {
    for (const auto& r : c.routes) {
      if (r.address.is_v6()) s.fail("routes", "IPv6 route " + r.to_string() + " needs pool6 (the clients' IPv6 addresses)");
    }
    for (const auto& a : c.dns) {
      if (a.is_v6()) s.fail("dns", "IPv6 server " + a.to_string() + " needs pool6 (the clients' IPv6 addresses)");
    }
  }
  c.dns_domains = s.list("dns_domains", "a DNS domain like \"site.example\" or \"~site.example\"", dns::parse_domain)
                      .value_or(std::vector<dns::Domain>{});
  if (c.dns_domains.size() > dns::kMaxPushedDomains)
    s.fail("dns_domains", "at most " + std::to_string(dns::kMaxPushedDomains) + " domains can be pushed");
  if (!c.dns_domains.empty() && c.dns.empty()) s.fail("dns_domains", "needs dns (the servers that answer for them)");
  c.interface = s.parsed("interface", "an interface name (1-15 characters)", parse_interface).value_or(c.interface);
  c.mtu = static_cast<std::uint32_t>(s.integer("mtu", 576, 9000).value_or(c.mtu));
  c.tun_queue_length = static_cast<std::uint32_t>(s.integer("tun_queue_length", 16, 100'000).value_or(c.tun_queue_length));
  // RFC 8200 5: every IPv6 link has an MTU of at least 1280 (the kernel disables IPv6 below).
  if (c.pool6 && c.mtu < 1280) s.fail("mtu", "must be at least 1280 with pool6 (IPv6 minimum link MTU), got " + std::to_string(c.mtu));
  c.keepalive = s.duration("keepalive").value_or(c.keepalive);
  c.dead_after = s.duration("dead_after").value_or(c.dead_after);
  if (c.keepalive.count() == 0) s.fail("keepalive", "must be greater than 0");
  // The negotiation needs room for two echo intervals before a peer is declared dead.
  if (c.dead_after < 2 * c.keepalive) s.fail("dead_after", "must be at least twice keepalive");
  c.cipher = s.parsed("cipher", "\"aes-256-gcm\" or \"chacha20-poly1305\"", parse_cipher).value_or(c.cipher);
  c.rekey_interval = s.duration("rekey_interval").value_or(c.rekey_interval);
  if (c.rekey_interval < std::chrono::seconds(10)) s.fail("rekey_interval", "must be at least 10s");
  c.rekey_packets = s.integer("rekey_packets", 1024, std::uint64_t{1} << 60).value_or(c.rekey_packets);
  c.client_to_client = s.boolean("client_to_client").value_or(c.client_to_client);
  c.mss_clamp = s.boolean("mss_clamp").value_or(c.mss_clamp);
  c.offload = s.boolean("offload").value_or(c.offload);
  c.idle_timeout = s.duration("idle_timeout").value_or(c.idle_timeout);
  c.address_grace = s.duration("address_grace").value_or(c.address_grace);
  c.max_pending_handshakes = static_cast<std::uint32_t>(
      s.integer("max_pending_handshakes", 1, 1'000'000).value_or(c.max_pending_handshakes));
  c.max_pending_handshakes_per_source = static_cast<std::uint32_t>(
      s.integer("max_pending_handshakes_per_source", 1, 1'000'000).value_or(c.max_pending_handshakes_per_source));
  if (c.max_pending_handshakes_per_source > c.max_pending_handshakes) {
    s.fail("max_pending_handshakes_per_source", "must not exceed max_pending_handshakes");
  }
  c.max_queued_verifications = static_cast<std::uint32_t>(
      s.integer("max_queued_verifications", 1, 100'000).value_or(c.max_queued_verifications));
  return c;
}

std::optional<HostPort> parse_client_server(std::string_view v) {
  auto e = HostPort::parse(v);
  if (e && !e->is_ip_literal() && !is_host_name(e->host)) e.reset();
  return e;
}

// `server` (one) or `servers` (a list), never both: a list beside a single key would leave the
// reader guessing which one is tried first.
std::vector<HostPort> load_client_servers(Section& s) {
  constexpr std::string_view expected = "\"host:port\" like \"vpn.example.org:443\"";
  if (s.has("server") && s.has("servers")) s.fail("servers", "set server or servers, not both");
  if (s.has("server")) return {s.required(s.parsed("server", expected, parse_client_server), "server")};
  auto list = s.required(s.list("servers", expected, parse_client_server), "servers");
  if (list.empty()) s.fail("servers", "at least one server is required");
  if (list.size() > kMaxClientServers)
    s.fail("servers", "at most " + std::to_string(kMaxClientServers) + " servers, got " + std::to_string(list.size()));
  for (std::size_t i = 0; i < list.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (list[i] == list[j]) s.fail("servers", "\"" + list[i].to_string() + "\" is listed twice");
    }
  }
  return list;
}

TunnelClientConfig load_client(Section& s) {
  TunnelClientConfig c;
  c.servers = load_client_servers(s);
  c.server_order = s.parsed("server_order", "\"ordered\" or \"random\"", parse_server_order).value_or(c.server_order);
  if (c.servers.size() == 1 && s.has("server_order"))
    s.fail("server_order", "only used with two or more servers (servers = [...])");
  c.connect_timeout = s.duration("connect_timeout").value_or(c.connect_timeout);
  if (c.connect_timeout < std::chrono::milliseconds(100) || c.connect_timeout > std::chrono::minutes(2))
    s.fail("connect_timeout", "must be from 100ms to 2m");
  c.connect_attempt_delay = s.duration("connect_attempt_delay").value_or(c.connect_attempt_delay);
  if (c.connect_attempt_delay < std::chrono::milliseconds(100) || c.connect_attempt_delay > std::chrono::seconds(2))
    s.fail("connect_attempt_delay", "must be from 100ms to 2s (RFC 8305: 250ms)");
  // The server announces its UDP data port in DATA_CHANNEL; a client-side port was never used.
  if (s.has("data_port")) s.fail("data_port", "not a client key: the server announces its data port; remove it");
  c.ca = s.path("ca");
  c.server_fingerprint = s.parsed("server_fingerprint", "a SHA-256 fingerprint (64 hex digits, colons optional)",
                                  [](std::string_view v) -> std::optional<std::string> {
                                    std::string hex;
                                    for (char ch : v) {
                                      if (ch == ':') continue;
                                      if (!std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;
                                      hex += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                                    }
                                    if (hex.size() != 64) return std::nullopt;
                                    std::string out;
                                    for (std::size_t i = 0; i < hex.size(); i += 2)
                                      out += (i ? ":" : "") + hex.substr(i, 2);
                                    return out;
                                  });
  if (!c.ca && !c.server_fingerprint) s.fail("ca", "either ca or server_fingerprint is required");
  c.server_name = s.parsed("server_name", "a host name", [](std::string_view v) -> std::optional<std::string> {
                     if (!is_host_name(v)) return std::nullopt;
                     return std::string(v);
                   });
  c.certificate = s.path("certificate");
  c.private_key = s.path("private_key");
  if (c.certificate && !c.private_key) s.fail("certificate", "private_key is required with certificate");
  if (c.private_key && !c.certificate) s.fail("private_key", "certificate is required with private_key");
  c.user = s.string("user");
  c.password_file = s.path("password_file");
  if (c.user && !c.password_file) s.fail("user", "password_file is required with user");
  if (c.password_file && !c.user) s.fail("password_file", "user is required with password_file");
  c.interface = s.parsed("interface", "an interface name (1-15 characters)", parse_interface).value_or(c.interface);
  c.tun_queue_length = static_cast<std::uint32_t>(s.integer("tun_queue_length", 16, 100'000).value_or(c.tun_queue_length));
  c.cipher = s.parsed("cipher", "\"aes-256-gcm\" or \"chacha20-poly1305\"", parse_cipher);
  c.keepalive = s.duration("keepalive").value_or(c.keepalive);
  if (c.keepalive.count() == 0) s.fail("keepalive", "must be greater than 0");
  c.fallback_after = s.duration("fallback_after").value_or(c.fallback_after);
  if (c.fallback_after < std::chrono::seconds(2) || c.fallback_after > std::chrono::seconds(60)) {
    s.fail("fallback_after", "must be 2s to 60s");
  }
  c.leak_protection = s.boolean("leak_protection").value_or(c.leak_protection);
  c.ipv6 = s.boolean("ipv6").value_or(c.ipv6);
  c.offload = s.boolean("offload").value_or(c.offload);
  c.apply_dns = s.boolean("apply_dns").value_or(c.apply_dns);
  c.dns_backend = s.parsed("dns_backend", "one of \"auto\", \"resolved\", \"file\"", parse_dns_backend)
                      .value_or(c.dns_backend);
  c.dns_state_dir = s.path("dns_state_dir").value_or(c.dns_state_dir);
  c.fwmark = static_cast<std::uint32_t>(s.integer("fwmark", 1, 0xffffffff).value_or(c.fwmark));
  c.table = static_cast<std::uint32_t>(s.integer("table", 1, 0xfffffffe).value_or(c.table));
  // 253-255 are the kernel's default, main and local tables (rt_class_t): routes pushed there
  // would mix with the host's own, and the rules below would point at them.
  if (c.table >= 253 && c.table <= 255) s.fail("table", "253, 254 and 255 are the kernel's own tables");
  c.leak_protection_ipv6 = s.parsed("leak_protection_ipv6", "one of \"block\", \"allow\"", parse_ipv6_leak_policy)
                               .value_or(c.leak_protection_ipv6);
  if (s.has("leak_protection_ipv6") && !c.leak_protection) {
    s.fail("leak_protection_ipv6", "has no effect without leak_protection = true");
  }
  return c;
}

// "0600", "0640", "0660": octal, owner may read and write, nobody executes, others never write.
std::optional<std::uint32_t> parse_file_mode(std::string_view s) {
  if (s.size() != 4 || s[0] != '0') return std::nullopt;
  std::uint32_t mode = 0;
  for (char ch : s.substr(1)) {
    if (ch < '0' || ch > '7') return std::nullopt;
    mode = mode * 8 + static_cast<std::uint32_t>(ch - '0');
  }
  if ((mode & 0600) != 0600 || (mode & 0111) != 0 || (mode & 0002) != 0) return std::nullopt;
  return mode;
}

std::optional<RelayTlsPolicy> parse_relay_tls(std::string_view s) {
  if (s == "verify") return RelayTlsPolicy::verify;
  if (s == "encrypt") return RelayTlsPolicy::encrypt;
  if (s == "none") return RelayTlsPolicy::none;
  return std::nullopt;
}

// "mx1.site.example:25", "[2001:db8::25]:587", or a bare host name or IP (port 25).
std::optional<HostPort> parse_relay_host(std::string_view s) {
  if (auto e = HostPort::parse(s)) return e;
  if (is_host_name(s) && !s.empty()) return HostPort{std::string(s), 25};
  return std::nullopt;
}

RelayConfig load_relay(Section& r, const SmtpConfig& smtp) {
  RelayConfig c;
  c.hosts = r.required(r.list("hosts", "a relay host like \"mx1.site.example:25\" or \"192.0.2.25:587\"",
                              parse_relay_host),
                       "hosts");
  if (c.hosts.empty()) r.fail("hosts", "at least one relay host is required");
  c.tls = r.parsed("tls", "\"verify\", \"encrypt\" or \"none\"", parse_relay_tls).value_or(c.tls);
  c.ca = r.path("ca");
  if (c.ca && c.tls != RelayTlsPolicy::verify)
    r.fail("ca", "only used with tls = \"verify\" (the certificate is not checked otherwise)");
  c.server_name = r.parsed("server_name", "a host name like \"mx1.site.example\"",
                           [](std::string_view v) -> std::optional<std::string> {
                             if (!is_host_name(v)) return std::nullopt;
                             return std::string(v);
                           });
  if (c.server_name && c.tls != RelayTlsPolicy::verify)
    r.fail("server_name", "only used with tls = \"verify\" (the name is not checked otherwise)");
  c.user = r.string("user");
  c.password_file = r.path("password_file");
  if (c.user && !c.password_file) r.fail("user", "password_file is required with user");
  if (c.password_file && !c.user) r.fail("password_file", "user is required with password_file");
  if (c.user && c.tls == RelayTlsPolicy::none)
    r.fail("user", "refusing to send a password to the relay without TLS (tls = \"none\")");
  c.helo_name = r.parsed("helo_name", "a host name like \"vpn.site.example\"",
                         [](std::string_view v) -> std::optional<std::string> {
                           if (!is_host_name(v)) return std::nullopt;
                           return std::string(v);
                         })
                    .value_or(smtp.hostname);
  auto positive = [&r](std::string_view key, std::chrono::milliseconds fallback) {
    auto v = r.duration(key).value_or(fallback);
    if (v.count() <= 0) r.fail(key, "must be greater than 0");
    return v;
  };
  c.connect_timeout = positive("connect_timeout", c.connect_timeout);
  c.command_timeout = positive("command_timeout", c.command_timeout);
  c.data_timeout = positive("data_timeout", c.data_timeout);
  c.final_timeout = positive("final_timeout", c.final_timeout);
  c.reuse_idle = r.duration("reuse_idle").value_or(c.reuse_idle);
  c.max_messages_per_connection = static_cast<std::uint32_t>(
      r.integer("max_messages_per_connection", 1, 100000).value_or(c.max_messages_per_connection));
  return c;
}

QueueConfig load_queue(Section& q) {
  QueueConfig c;
  c.retry_min = q.duration("retry_min").value_or(c.retry_min);
  c.retry_max = q.duration("retry_max").value_or(c.retry_max);
  c.lifetime = q.duration("lifetime").value_or(c.lifetime);
  if (c.retry_min.count() < 1000) q.fail("retry_min", "must be at least 1s");
  if (c.retry_max < c.retry_min) q.fail("retry_max", "must not be less than retry_min");
  if (c.lifetime < c.retry_min) q.fail("lifetime", "must not be less than retry_min");
  return c;
}

SmtpConfig load_smtp(Section& s, const AuthConfig& auth) {
  SmtpConfig c;
  c.listen = s.required(s.list("listen", "\"ip:port mode\" like \"0.0.0.0:587 starttls\" (mode: starttls, tls, auto)",
                               parse_listener),
                        "listen");
  if (c.listen.empty()) s.fail("listen", "at least one listener is required");
  c.hostname = s.required(s.parsed("hostname", "a host name like \"mail.example.org\"",
                                   [](std::string_view v) -> std::optional<std::string> {
                                     if (!is_host_name(v)) return std::nullopt;
                                     return std::string(v);
                                   }),
                          "hostname");
  c.certificate = s.required(s.path("certificate"), "certificate");
  c.private_key = s.required(s.path("private_key"), "private_key");
  c.spool = s.required(s.path("spool"), "spool");
  c.maildir = s.required(s.path("maildir"), "maildir");
  c.domains = s.required(s.list("domains", "a domain like \"example.org\"", parse_domain), "domains");
  if (c.domains.empty()) s.fail("domains", "at least one domain is required");
  c.users = s.path("users");
  check_users_key(s, c.users, auth);
  c.passwords = c.users.has_value() || auth.backend != PasswordBackendKind::file;
  c.max_message_size = s.size("max_message_size").value_or(c.max_message_size);
  if (c.max_message_size < 1024) s.fail("max_message_size", "must be at least 1K");
  c.max_recipients = static_cast<std::uint32_t>(s.integer("max_recipients", 1, 100000).value_or(c.max_recipients));
  c.greeting_delay = s.duration("greeting_delay").value_or(c.greeting_delay);
  c.command_timeout = s.duration("command_timeout").value_or(c.command_timeout);
  c.unauthenticated_timeout = s.duration("unauthenticated_timeout").value_or(c.unauthenticated_timeout);
  if (c.unauthenticated_timeout < std::chrono::seconds(1)) s.fail("unauthenticated_timeout", "must be at least 1s");
  c.data_timeout = s.duration("data_timeout").value_or(c.data_timeout);
  c.max_junk_commands = static_cast<std::uint32_t>(s.integer("max_junk_commands", 1, 100'000).value_or(c.max_junk_commands));
  c.max_connections_per_ip =
      static_cast<std::uint32_t>(s.integer("max_connections_per_ip", 1, 1'000'000).value_or(c.max_connections_per_ip));
  c.max_connections = static_cast<std::uint32_t>(s.integer("max_connections", 1, 1'000'000).value_or(c.max_connections));
  c.max_queued_verifications = static_cast<std::uint32_t>(
      s.integer("max_queued_verifications", 1, 100'000).value_or(c.max_queued_verifications));
  c.auth_failure_delay = s.duration("auth_failure_delay").value_or(c.auth_failure_delay);
  c.trusted_networks = s.list("trusted_networks", cidr_expected, parse_network).value_or(c.trusted_networks);
  c.senders = s.path("senders");
  c.sender_check = s.boolean("sender_check").value_or(c.sender_check);
  if (c.senders && !c.sender_check) s.fail("senders", "a sender map with sender_check = false would be ignored");
  c.recipients = s.path("recipients");
  c.messages_per_hour = static_cast<std::uint32_t>(s.integer("messages_per_hour", 0, 1'000'000).value_or(c.messages_per_hour));
  c.recipients_per_hour = static_cast<std::uint32_t>(s.integer("recipients_per_hour", 0, 10'000'000).value_or(c.recipients_per_hour));
  c.maildir_mode = s.parsed("maildir_mode", "an octal file mode like \"0600\" or \"0660\" (owner read/write at least, no execute bits)",
                            parse_file_mode).value_or(c.maildir_mode);
  c.maildir_group = s.string("maildir_group");
  return c;
}

// [smtp.relay] and [smtp.queue] are tables inside [smtp]; the [smtp] Section marks them read.
const toml::table* smtp_subtable(Section& s, std::string_view name) {
  const toml::node* n = s.get(name);
  if (!n) return nullptr;
  if (auto t = n->as_table()) return t;
  s.fail(name, "expected a [smtp." + std::string(name) + "] section");
}

// metrics: the scrape endpoint carries no secrets but tells anyone who reaches it who is
// connected and how much mail flows, so anything beyond loopback needs metrics_public = true.
void load_metrics(Section& s, DaemonConfig& c) {
  // IPv4 only: Debian 12's civetweb, which serves the endpoint, is built without IPv6.
  c.metrics = s.parsed("metrics", "an IPv4 \"ip:port\" like \"127.0.0.1:9477\"", [](std::string_view v) {
    auto e = parse_ip_endpoint(v);
    if (e && !e->address().is_v4()) e.reset();
    return e;
  });
  auto opt_in = s.boolean("metrics_public");
  if (opt_in && !c.metrics) s.fail("metrics_public", "only used with metrics");
  c.metrics_public = opt_in.value_or(false);
  if (!c.metrics) return;
  const bool loopback = c.metrics->address().is_loopback();
  if (!loopback && !c.metrics_public)
    s.fail("metrics", "\"" + c.metrics->to_string() +
                          "\" is not a loopback address; set metrics_public = true to serve metrics on it");
  if (loopback && c.metrics_public)
    s.fail("metrics_public", "metrics is a loopback address; metrics_public is only for a non-loopback one");
}

DaemonConfig load_daemon(Section& s, const fs::path& file) {
  DaemonConfig c;
  c.user = s.string("user").value_or(c.user);
  c.group = s.string("group").value_or(c.group);
  c.status_socket = s.path("status_socket").value_or(fs::path("/run/postern") / (file.stem().string() + ".sock"));
  c.capture_inner = s.path("capture_inner");
  c.log_level = s.parsed("log_level", "one of \"debug\", \"info\", \"warning\", \"error\"", parse_level)
                    .value_or(c.log_level);
  load_metrics(s, c);
  return c;
}

const toml::table* subtable(const Context& ctx, const toml::table& root, std::string_view name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (auto t = n->as_table()) return t;
  throw ConfigError(ctx.file + ":" + std::to_string(n->source().begin.line) + ": " + std::string(name) +
                    ": expected a [" + std::string(name) + "] section");
}

Config build(const Context& ctx, const toml::table& root, const fs::path& file) {
  for (const auto& [key, node] : root) {
    if (key != "tunnel" && key != "smtp" && key != "auth" && key != "daemon")
      throw ConfigError(ctx.file + ":" + std::to_string(node.source().begin.line) + ": " + std::string(key.str()) +
                        ": unknown section (expected [tunnel], [smtp], [auth] or [daemon])");
  }
  Config config;
  config.file = file;
  // [auth] first: it decides whether [tunnel] users / [smtp] users may be set.
  const toml::table* auth_table = subtable(ctx, root, "auth");
  Section a(ctx, "auth", auth_table);
  config.auth = load_auth(ctx, a);
  a.reject_unknown();
  if (const toml::table* t = subtable(ctx, root, "tunnel")) {
    Section s(ctx, "tunnel", t);
    const bool client = s.has("server") || s.has("servers");
    if (s.has("listen") && client)
      s.fail(s.has("server") ? "server" : "servers",
             "a [tunnel] is either a server (listen) or a client (server or servers), not both");
    if (s.has("listen")) config.server = load_server(s, config.auth);
    else if (client) config.client = load_client(s);
    else s.fail("", "needs listen (to be a server) or server/servers (to be a client)");
    s.reject_unknown();
  }
  if (const toml::table* t = subtable(ctx, root, "smtp")) {
    Section s(ctx, "smtp", t);
    config.smtp = load_smtp(s, config.auth);
    if (const toml::table* rt = smtp_subtable(s, "relay")) {
      Section r(ctx, "smtp.relay", rt);
      config.smtp->relay = load_relay(r, *config.smtp);
      r.reject_unknown();
    }
    if (const toml::table* qt = smtp_subtable(s, "queue")) {
      Section q(ctx, "smtp.queue", qt);
      config.smtp->queue = load_queue(q);
      q.reject_unknown();
    }
    s.reject_unknown();
  }
  Section d(ctx, "daemon", subtable(ctx, root, "daemon"));
  config.daemon = load_daemon(d, file);
  d.reject_unknown();
  if (!config.server && !config.client && !config.smtp)
    throw ConfigError(ctx.file + ": nothing to run: no [tunnel] or [smtp] section");
  if (auth_table && config.client) a.fail("", "[auth] is for servers; a client sends its own user and password_file");
  if (config.auth.radius && config.auth.radius->accounting && !config.server)
    throw ConfigError(ctx.file + ":" + std::to_string((*ctx.key_lines)["auth.radius.accounting"]) +
                      ": [auth.radius] accounting: accounts tunnel sessions, but there is no tunnel server ([tunnel] listen)");
  return config;
}

}  // namespace

std::string_view to_string(AuthMode mode) {
  switch (mode) {
    case AuthMode::any: return "any";
    case AuthMode::certificate: return "certificate";
    case AuthMode::password: return "password";
    case AuthMode::both: return "both";
  }
  return "?";
}

std::string_view to_string(SmtpTlsMode mode) {
  switch (mode) {
    case SmtpTlsMode::starttls: return "starttls";
    case SmtpTlsMode::tls: return "tls";
    case SmtpTlsMode::auto_detect: return "auto";
  }
  return "?";
}

std::string_view to_string(PasswordBackendKind kind) {
  switch (kind) {
    case PasswordBackendKind::file: return "file";
    case PasswordBackendKind::ldap: return "ldap";
    case PasswordBackendKind::radius: return "radius";
  }
  return "file";
}

std::string_view to_string(RelayTlsPolicy policy) {
  switch (policy) {
    case RelayTlsPolicy::verify: return "verify";
    case RelayTlsPolicy::encrypt: return "encrypt";
    case RelayTlsPolicy::none: return "none";
  }
  return "verify";
}

Config parse_config(std::string_view text, const std::filesystem::path& path) {
  std::map<std::string, std::uint32_t, std::less<>> key_lines;
  Context ctx{path.string(), fs::absolute(path).parent_path(), &key_lines};
  if (auto bad = find_unsafe_toml_character(text)) {
    throw ConfigError(fmt::format("{}:{}: character U+{:04X} is only accepted in a comment line or a "
                                  "key = \"string\" line (the TOML parser would misread it here)",
                                  ctx.file, bad->line, static_cast<std::uint32_t>(bad->code_point)));
  }
  toml::table root;
  try {
    root = toml::parse(text, ctx.file);
  } catch (const toml::parse_error& e) {
    throw ConfigError(ctx.file + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  Config config = build(ctx, root, path);
  config.key_lines = std::move(key_lines);
  return config;
}

std::string Config::where(std::string_view section, std::string_view key) const {
  std::string out = file.string();
  const std::string name = std::string(section) + "." + std::string(key);
  if (auto it = key_lines.find(name); it != key_lines.end()) out += ":" + std::to_string(it->second);
  return out + ": [" + std::string(section) + "] " + std::string(key);
}

Config load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(path.string() + ": read error");
  return parse_config(ss.str(), path);
}

SecretBytes read_password_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ConfigError(path.string() + ": cannot open password file");
  if ((st.st_mode & 077) != 0)
    throw ConfigError(path.string() + ": password file must not be readable by group or others (chmod 600)");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  SecretBytes out(text);
  std::fill(text.begin(), text.end(), '\0');
  if (out.empty()) throw ConfigError(path.string() + ": password file is empty");
  return out;
}

std::string_view to_string(ServerOrder order) { return order == ServerOrder::random ? "random" : "ordered"; }

std::optional<ServerOrder> parse_server_order(std::string_view text) {
  if (text == "ordered") return ServerOrder::ordered;
  if (text == "random") return ServerOrder::random;
  return std::nullopt;
}

std::string_view to_string(Ipv6LeakPolicy policy) {
  return policy == Ipv6LeakPolicy::allow ? "allow" : "block";
}

std::string_view to_string(DnsBackend backend) {
  switch (backend) {
    case DnsBackend::auto_detect: return "auto";
    case DnsBackend::resolved: return "resolved";
    case DnsBackend::file: return "file";
  }
  return "auto";
}

}  // namespace postern::config
