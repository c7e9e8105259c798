// The postern configuration: one TOML file holding a [tunnel] section (a server when it has
// `listen`, a client when it has `server`), an optional [smtp] section and a [daemon] section,
// loaded into the plain structs below (see docs/configuration.md for every key and default).
// Contract: load_config()/parse_config() either return a complete, validated Config or throw
// ConfigError whose message names the file, the line and the key, e.g.
//   site.toml:7: [tunnel] pool: expected an IPv4 CIDR like "10.77.0.0/24", got "10.77.0.0"
// Addresses are the common vocabulary (common/ip_address.hpp): keys that take only IP literals
// hold an IpEndpoint/IpPrefix/IpAddress, keys whose host may be a DNS name a HostPort.
// Unknown keys are errors (typos must not silently fall back to defaults). Relative paths are
// resolved against the directory of the config file. Nothing here opens sockets or devices;
// files named by the config (certificates, users...) are not read here, except by
// read_password_file(). This header deliberately does not include toml++.
#pragma once

#include "common/cipher.hpp"
#include "common/dns_name.hpp"
#include "common/duration.hpp"
#include "common/host_port.hpp"
#include "common/ip_address.hpp"
#include "common/log.hpp"
#include "common/secret.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using ::postern::Cipher;  // common/cipher.hpp: the one cipher enum

// How a tunnel client must authenticate.
enum class AuthMode {
  any,          // a valid client certificate OR a valid password
  certificate,  // a valid client certificate
  password,     // a valid user/password
  both,         // a valid client certificate AND a valid password
};
std::string_view to_string(AuthMode mode);

// How the client applies pushed DNS: systemd-resolved (resolvectl) when it runs, else by
// rewriting /etc/resolv.conf (backed up first); or one of them forced.
enum class DnsBackend { auto_detect, resolved, file };
std::string_view to_string(DnsBackend backend);  // "auto", "resolved", "file"

// With leak protection, what happens to the laptop's own IPv6 while the tunnel carries IPv4
// only (docs/resilience.md, "IPv6 outside the tunnel").
enum class Ipv6LeakPolicy { block, allow };
std::string_view to_string(Ipv6LeakPolicy policy);  // "block", "allow"

// The order in which a client goes through its list of site servers (docs/configuration.md
// "Several site servers"): as written (the first is the preferred one), or shuffled afresh for
// every round through the list (spreads a site's laptops over its servers).
enum class ServerOrder { ordered, random };
std::string_view to_string(ServerOrder order);  // "ordered", "random"
std::optional<ServerOrder> parse_server_order(std::string_view text);

// Most site servers a client lists ([tunnel] servers); each may resolve to several addresses.
inline constexpr std::size_t kMaxClientServers = 32;

struct TunnelServerConfig {
  IpEndpoint listen;        // TCP control channel (TLS 1.3); port 1..65535
  std::uint16_t data_port;  // UDP data channel; default listen.port
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::optional<std::filesystem::path> client_ca;  // enables client-certificate auth
  std::optional<std::filesystem::path> crl;
  std::optional<std::filesystem::path> deny_list;
  std::optional<std::filesystem::path> users;  // enables password auth ([auth] backend = "file")
  bool passwords = false;  // password logins possible: users set or a directory backend
  AuthMode auth = AuthMode::any;
  IpPrefix pool;                        // IPv4, no host bits; server's tunnel address: pool.first_host()
  // IPv6 pool (/64../124, no host bits): clients that ask for IPv6 get an address from it; the
  // server's inner IPv6 address is pool6->first_host(). nullopt: the tunnel carries IPv4 only.
  std::optional<IpPrefix> pool6;
  // Either family, no host bits, at most 64; default {pool, pool6}. IPv6 ones need pool6.
  std::vector<IpPrefix> routes;
  std::vector<IpAddress> dns;           // either family (IPv6 needs pool6), at most 64; default empty
  // Pushed with dns: search domains ("site.example") and routing-only domains
  // ("~site.example"), at most 16 (the IPCP limit, tunnel/control/control_message.hpp).
  std::vector<dns::Domain> dns_domains;  // default empty
  std::string interface = "postern0";
  std::uint32_t mtu = 1400;
  // Packets the kernel queues on the TUN for the daemon to read (txqueuelen, docs/performance.md).
  std::uint32_t tun_queue_length = 1000;
  // Bounds on what a client proposes in LCP (the server NAKs longer values down to these): the
  // longest keepalive interval, and the longest time without an authenticated byte (control or
  // data channel) before a session is declared dead.
  std::chrono::milliseconds keepalive{10'000};
  std::chrono::milliseconds dead_after{35'000};
  Cipher cipher = Cipher::aes_256_gcm;
  std::chrono::milliseconds rekey_interval{120'000};
  std::uint64_t rekey_packets = 268'435'456;  // 2^28
  bool client_to_client = false;
  bool mss_clamp = true;
  bool offload = true;  // TUN TSO/GRO + UDP GSO/GRO (docs/performance.md)
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds address_grace{600'000};
  // Unauthenticated control connections (accepted, TLS or HELLO not done), in total and per
  // source (IPv4 address, IPv6 /64); beyond them a connection is closed at accept.
  std::uint32_t max_pending_handshakes = 512;
  std::uint32_t max_pending_handshakes_per_source = 16;
  // Password checks waiting for the scrypt thread; beyond it a login is refused at once.
  std::uint32_t max_queued_verifications = 64;
};

struct TunnelClientConfig {
  // The site servers, from `server` (one) or `servers` (a list, at most kMaxClientServers, no
  // duplicates); host may be a DNS name, every address it resolves to is tried. The UDP data port comes from the server (DATA_CHANNEL).
  std::vector<HostPort> servers;
  ServerOrder server_order = ServerOrder::ordered;
  // Each address of a server gets this long for the TCP connect and then for the TLS
  // handshake; beyond it the next address, then the next server, is tried.
  std::chrono::milliseconds connect_timeout{5'000};
  // Happy Eyeballs (RFC 8305 5): the next address's connect starts this long after the
  // previous one's while that one is still pending. 100 ms to 2 s.
  std::chrono::milliseconds connect_attempt_delay{250};
  std::optional<std::filesystem::path> ca;
  // SHA-256 of the server certificate (DER), normalised to upper-case hex with colons,
  // "AB:CD:...", the same form as auth::fingerprint(). ca or this (or both) is set.
  std::optional<std::string> server_fingerprint;
  // SNI and the name the certificate must carry, for every server; nullopt: the host of the
  // server being tried (name_to_verify()).
  std::optional<std::string> server_name;
  std::optional<std::filesystem::path> certificate;  // set together with private_key
  std::optional<std::filesystem::path> private_key;
  std::optional<std::string> user;
  std::optional<std::filesystem::path> password_file;  // set iff user is set
  std::string interface = "postern0";
  std::uint32_t tun_queue_length = 1000;  // as the server's
  std::optional<Cipher> cipher;  // preference; nullopt: take the server's choice
  std::chrono::milliseconds keepalive{10'000};
  // UDP -> TLS fallback: this long (and three UDP echo probes in a row) without an echo reply
  // over UDP (tunnel/daemon/transport_monitor.hpp). 2 s to 60 s.
  std::chrono::milliseconds fallback_after{3000};
  // Leak protection (docs/resilience.md): pushed routes go into routing table `table`, policy
  // rules send unmarked traffic there first, and the client's own sockets carry `fwmark` so
  // they bypass it. Off by default: it adds `ip rule`s to the host.
  bool leak_protection = false;
  std::uint32_t fwmark = 0x7073;  // "ps"
  std::uint32_t table = 7073;
  // block: with a pushed default route, IPv6 beyond the local link's own routes is refused, and
  // with pushed DNS servers, IPv6 DNS (port 53) is refused; allow: IPv6 is left alone.
  Ipv6LeakPolicy leak_protection_ipv6 = Ipv6LeakPolicy::block;
  // Ask the server for an inner IPv6 address (IPCP address6); a server without pool6 (or an
  // older one) rejects it and the tunnel carries IPv4 only.
  bool ipv6 = true;
  bool offload = true;  // TUN TSO/GRO + UDP GSO/GRO (docs/performance.md)
  // Pushed DNS (docs/configuration.md "DNS on the client"): applied to the system resolver
  // through `dns_backend`; the file backend keeps its backup of /etc/resolv.conf in
  // dns_state_dir so a crashed run's change is undone at the next start.
  bool apply_dns = true;
  DnsBackend dns_backend = DnsBackend::auto_detect;
  std::filesystem::path dns_state_dir = "/run/postern";

  const std::string& name_to_verify(const HostPort& server) const { return server_name ? *server_name : server.host; }
};

enum class SmtpTlsMode {
  starttls,     // plaintext, STARTTLS offered (RFC 3207)
  tls,          // implicit TLS from the first byte (RFC 8314)
  auto_detect,  // wait greeting_delay: a TLS ClientHello means tls, silence means starttls
};
std::string_view to_string(SmtpTlsMode mode);  // "starttls", "tls", "auto"

struct SmtpListener {
  IpEndpoint endpoint;  // port 1..65535
  SmtpTlsMode mode = SmtpTlsMode::starttls;
};

// How the relay link is protected (docs/smtp-relay.md). Under verify and encrypt nothing is
// ever sent before TLS is up: a relay without STARTTLS, a failed handshake or (verify) a
// certificate that does not chain to `ca` or does not name the host defers the message.
enum class RelayTlsPolicy {
  verify,   // STARTTLS required, chain checked against ca (or the system store), host name checked
  encrypt,  // STARTTLS required, certificate not checked
  none,     // plaintext; only where the operator writes tls = "none"
};
std::string_view to_string(RelayTlsPolicy policy);  // "verify", "encrypt", "none"

// [smtp.relay]: the site's MTA (smarthost). Every recipient outside [smtp] domains goes here.
struct RelayConfig {
  std::vector<HostPort> hosts;  // tried in order (failover); host may be a DNS name
  RelayTlsPolicy tls = RelayTlsPolicy::verify;
  std::optional<std::filesystem::path> ca;  // PEM bundle; default: the system store
  // Name the relay's certificate must carry (verify); default: each host's own name.
  std::optional<std::string> server_name;
  std::optional<std::string> user;                     // SMTP AUTH to the relay (PLAIN/LOGIN)
  std::optional<std::filesystem::path> password_file;  // set iff user is set; mode 0600
  std::string helo_name;  // default [smtp] hostname
  std::chrono::milliseconds connect_timeout{30'000};
  // RFC 5321 4.5.3.2 timeouts: greeting/MAIL/RCPT/other commands, DATA initiation and data
  // blocks, and the final "." reply.
  std::chrono::milliseconds command_timeout{300'000};
  std::chrono::milliseconds data_timeout{180'000};
  std::chrono::milliseconds final_timeout{600'000};
  // A connection is reused for further queued messages while the queue has more due within
  // this time; then it is closed with QUIT.
  std::chrono::milliseconds reuse_idle{2'000};
  std::uint32_t max_messages_per_connection = 100;
};

// Retry schedule of the queue (docs/smtp-delivery.md).
struct QueueConfig {
  std::chrono::milliseconds retry_min{60'000};       // first retry after a temporary failure
  std::chrono::milliseconds retry_max{3'600'000};    // backoff doubles up to this
  std::chrono::milliseconds lifetime{5 * 86'400'000};  // then the remaining recipients bounce
};

struct SmtpConfig {
  std::vector<SmtpListener> listen;  // at least one
  std::string hostname;
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  std::filesystem::path spool;
  std::filesystem::path maildir;
  std::vector<std::string> domains;  // at least one; lower-cased
  std::optional<std::filesystem::path> users;  // [auth] backend = "file" only
  bool passwords = false;  // AUTH offered: users set or a directory backend
  std::uint64_t max_message_size = 35ull * 1024 * 1024;
  std::uint32_t max_recipients = 100;
  std::chrono::milliseconds greeting_delay{500};
  std::chrono::milliseconds command_timeout{300'000};
  // Idle limit instead of command_timeout while a connection has no identity and is not trusted.
  std::chrono::milliseconds unauthenticated_timeout{30'000};
  std::chrono::milliseconds data_timeout{600'000};
  std::uint32_t max_junk_commands = 100;  // NOOP/RSET/HELP/VRFY between accepted messages
  std::uint32_t max_connections_per_ip = 20;
  std::uint32_t max_connections = 200;
  std::uint32_t max_queued_verifications = 64;  // AUTHs waiting for the scrypt threads
  std::chrono::milliseconds auth_failure_delay{2'000};
  // Networks whose clients may submit with no identity at all (no tunnel session, no AUTH);
  // logged as via=trusted_network and bound to no sender. Default: none. Tunnel clients need no
  // entry here: their tunnel identity authenticates them (docs/smtp-identity.md).
  std::vector<IpPrefix> trusted_networks;  // IPv4, no host bits
  // Identity policy (docs/smtp-identity.md).
  std::optional<std::filesystem::path> senders;     // sender map: identity -> addresses it may use
  bool sender_check = true;                         // false: any MAIL FROM (logged at start)
  std::optional<std::filesystem::path> recipients;  // local recipients and aliases; none: any local part
  std::uint32_t messages_per_hour = 200;            // per identity; 0 = no limit
  std::uint32_t recipients_per_hour = 1000;         // per identity; 0 = no limit
  // Maildir files: mode (default 0600) and, optionally, a group the daemon's run-as user
  // belongs to (e.g. the IMAP server's "vmail"), so the site's IMAP server reads them as is.
  std::uint32_t maildir_mode = 0600;
  std::optional<std::string> maildir_group;
  std::optional<RelayConfig> relay;  // [smtp.relay]; without it non-local recipients get 550
  QueueConfig queue;                 // [smtp.queue]
};

// [auth]: who answers passwords (tunnel logins and SMTP AUTH alike; docs/directory-auth.md).
enum class PasswordBackendKind {
  file,    // [tunnel] users / [smtp] users (scrypt users files)
  ldap,    // [auth.ldap]: search the user's entry, bind as it
  radius,  // [auth.radius]: PAP Access-Request with Message-Authenticator
};
std::string_view to_string(PasswordBackendKind kind);  // "file", "ldap", "radius"

// [auth.ldap]. TLS is always on: ldaps:// URIs, or ldap:// with starttls = true; the server
// certificate must chain to `ca` (or the system store) and name the URI's host.
struct LdapConfig {
  std::vector<std::string> uris;  // tried in order by libldap
  bool starttls = false;          // required for (and only allowed with) ldap:// URIs
  std::optional<std::filesystem::path> ca;  // PEM bundle; default: the system store
  std::string base;                // search base for users
  std::string filter = "(uid=%u)";  // %u: the login name, escaped (RFC 4515)
  std::optional<std::string> bind_dn;  // service account for the search; none: anonymous
  std::optional<std::filesystem::path> bind_password_file;  // set iff bind_dn; mode 0600
  // Who may connect: a login passes only if this search (under group_base, default base)
  // finds an entry. %u: the login name, %d: the user's DN (both escaped).
  std::optional<std::string> group_filter;
  std::optional<std::string> group_base;
  std::chrono::milliseconds timeout{5'000};  // connect and each operation
};

// [auth.radius]. Servers are tried in order, each `tries` times `timeout` apart; the one that
// answered last is asked first next time.
struct RadiusConfig {
  std::vector<HostPort> servers;  // IP literals (checked); port default 1812
  std::filesystem::path secret_file;  // the shared secret, mode 0600
  std::chrono::milliseconds timeout{3'000};
  std::uint32_t tries = 2;
  std::string nas_identifier = "postern";
  // Access-Accept/Reject without a Message-Authenticator are dropped (Blast-RADIUS,
  // CVE-2024-3596). false only for servers that cannot send one (FreeRADIUS before 3.2.5
  // without `Message-Authenticator := 0x00` in its reply); a present one is always checked.
  bool require_message_authenticator = true;
  // Accounting (RFC 2866) of tunnel sessions: Start, Interim-Update every interim_interval
  // (0: none), Stop.
  bool accounting = false;
  std::vector<HostPort> accounting_servers;  // default: each server on port 1813
  std::chrono::milliseconds interim_interval{600'000};
};

struct AuthConfig {
  PasswordBackendKind backend = PasswordBackendKind::file;
  std::optional<LdapConfig> ldap;      // iff backend == ldap
  std::optional<RadiusConfig> radius;  // iff backend == radius
};

struct DaemonConfig {
  std::string user = "nobody";
  std::string group;  // empty: the user's primary group
  std::filesystem::path status_socket;  // default "/run/postern/<config file stem>.sock"
  std::optional<std::filesystem::path> capture_inner;  // pcap of inner (tunnel) packets
  log::Level log_level = log::Level::info;
  // Prometheus text exposition over HTTP (GET /metrics); off when unset. IPv4 only; an
  // address outside 127.0.0.0/8 is refused unless metrics_public is true (the operator said so).
  std::optional<IpEndpoint> metrics;  // IPv4, port 1..65535
  bool metrics_public = false;
};

struct Config {
  std::filesystem::path file;  // as given to load_config
  std::optional<TunnelServerConfig> server;
  std::optional<TunnelClientConfig> client;  // never both server and client
  std::optional<SmtpConfig> smtp;
  AuthConfig auth;  // [auth]
  DaemonConfig daemon;
  // The line each key was read from ("tunnel.users" -> 7), for errors found after parsing
  // (files, listeners): where("tunnel", "users") is "site.toml:7: [tunnel] users".
  std::map<std::string, std::uint32_t, std::less<>> key_lines;
  std::string where(std::string_view section, std::string_view key) const;
};

// Reads and validates `path`. Throws ConfigError ("file:line: [section] key: problem").
Config load_config(const std::filesystem::path& path);
// Same, from text; `path` names the file in errors and anchors relative paths.
Config parse_config(std::string_view text, const std::filesystem::path& path);

// Reads a client password file: refuses files readable by group or others (must be 0600 or
// stricter), strips one trailing "\n" or "\r\n". Throws ConfigError naming the file.
SecretBytes read_password_file(const std::filesystem::path& path);

}  // namespace postern::config
