// Pushed DNS on the client: what is applied (DnsSettings), and the pure pieces of each backend,
// kept apart from the code that runs them so they are unit-tested without root:
//   * systemd-resolved: the `resolvectl` argument vectors (run without a shell by
//     resolver_helper.cpp), the per-link settings of the TUN interface;
//   * the file backend: the /etc/resolv.conf text (resolv_conf_file.cpp writes it);
//   * the request format between the daemon and its privileged helper (resolver_helper.hpp).
// Backend choice: systemd-resolved when its varlink socket accepts a connection (it runs),
// else the file backend. There is no resolvconf(8) backend: where resolvconf owns
// /etc/resolv.conf (a symlink into /run/resolvconf), the file backend replaces the symlink
// while the tunnel is up and puts the symlink itself back on exit.
#pragma once

#include "common/dns_name.hpp"
#include "common/ip_address.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::platform {

struct DnsSettings {
  std::string interface;            // the TUN device the servers are reached through
  std::vector<IpAddress> servers;   // in the server's order
  std::vector<dns::Domain> domains;
  // systemd-resolved only: also send names outside `domains` to these servers. The file
  // backend has nothing else: every name goes to `servers`.
  bool default_route = true;
  friend bool operator==(const DnsSettings&, const DnsSettings&) = default;
};

enum class ResolverBackend { resolved, file };
std::string_view to_string(ResolverBackend backend);  // "resolved", "file"

// True when systemd-resolved answers on its varlink socket (connect() succeeds; a stale socket
// file of a stopped resolved refuses). `socket_path` is injectable for tests.
bool resolved_running(const std::filesystem::path& socket_path = "/run/systemd/resolve/io.systemd.Resolve");

// `resolvectl dns IF S...`, `resolvectl domain IF D...` (an empty argument clears the
// domains), `resolvectl default-route IF yes|no`; each vector starts with "resolvectl".
std::vector<std::vector<std::string>> resolvectl_apply_commands(const DnsSettings& settings);
// `resolvectl revert IF`: drops every per-link setting (the kernel removing the TUN device
// does the same, which is why a crash leaves nothing behind in resolved).
std::vector<std::string> resolvectl_revert_command(std::string_view interface);

// The resolv.conf written while the tunnel is up: a comment naming postern and the interface,
// one `nameserver` line per server (glibc reads the first 3, MAXNS), one `search` line with
// the search domains (routing-only "~" domains cannot be expressed here and are left out),
// then the `options` lines of `original` (ndots, edns0... stay as the host had them).
std::string render_resolv_conf(const DnsSettings& settings, std::string_view original);
// The routing-only domains render_resolv_conf leaves out (to log them as not applied).
std::vector<std::string> routing_only_domains(const DnsSettings& settings);

// Request lines between the daemon and the helper:
//   "apply\n" "interface IF\n" ("nameserver IP\n")* ("domain D\n")* "default-route yes|no\n"
//   "restore\n"
// decode_* re-validates everything (interface name, addresses, DNS names): the helper is root
// and trusts nothing it is sent.
std::string encode_apply_request(const DnsSettings& settings);
std::optional<DnsSettings> decode_apply_request(std::string_view text);
inline constexpr std::string_view kRestoreRequest = "restore\n";

}  // namespace postern::platform
