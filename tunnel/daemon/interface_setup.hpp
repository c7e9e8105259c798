// Applies what negotiation decided to the TUN interface through rtnetlink (platform/netlink):
// address/prefix (IPv4, and IPv6 when the session has one), MTU, queue length, link up, and routes of both
// families. Throws std::runtime_error naming the interface and
// what the kernel refused; used at startup (server) and after each negotiation (client).
// Leak protection (client, docs/resilience.md "Leak protection"): routes go into their own
// table and three policy rules at fixed priorities steer unmarked traffic to it; the rules are
// installed once per daemon run (stale ones from a crashed run are removed first) and removed on
// exit. With pushed DNS servers, three more priorities restrict port 53 to those servers. The routes need no cleanup: the kernel drops them with the TUN device.
#pragma once

#include "platform/netlink.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postern::tunnel::daemon {

struct InterfaceSettings {
  std::string name;
  IpAddress address;  // IPv4
  std::uint8_t prefix_len = 32;
  std::uint32_t mtu = 1400;
  std::uint32_t queue_length = 1000;  // txqueuelen (config `tun_queue_length`)
  // Inner IPv6: the address with the pool6 prefix length (fd00:77::2/112), added with
  // IFA_F_NODAD so it is usable at once (a listener may bind it right away); nullopt: none, and
  // any global IPv6 address left on the interface from an earlier session is removed (the
  // kernel's fe80:: link-local address is left alone).
  std::optional<IpPrefix> address6;
  // Both families; routes inside their address's own prefix are implied and skipped. IPv6 routes
  // are installed only with address6.
  std::vector<IpPrefix> routes;
  // Leak protection: every route (the implied ones too) goes into this table instead of main.
  // Without it a pushed default route (prefix 0) is skipped with a warning: in main it would
  // replace the host's default route and loop the tunnel's own packets into the tunnel.
  std::optional<std::uint32_t> table;
};

void configure_interface(platform::Netlink& netlink, const InterfaceSettings& settings);

struct LeakProtection {
  std::uint32_t fwmark = 0;  // carried by the client's own sockets (SO_MARK)
  std::uint32_t table = 0;   // holds the pushed routes
};

// The rules, in priority order (lower first):
//   k_leak_rule_priority     not fwmark M lookup T suppress_prefixlength 0
//                            (pushed prefixes beat any route in main, however specific)
//   k_leak_rule_priority+1   lookup main suppress_prefixlength 0
//                            (main's specific routes, e.g. the LAN, beat a pushed default route)
//   k_leak_rule_priority+2   not fwmark M lookup T
//                            (a pushed default route beats main's default)
// Marked packets (the tunnel's own) skip both T rules and use main: they never loop.
inline constexpr std::uint32_t k_leak_rule_priority = 32761;
std::vector<platform::RuleSpec> leak_protection_rules(const LeakProtection& protection);

// DNS leak protection (leak protection on and DNS servers pushed), below the three above:
//   k_dns_rule_priority      fwmark M goto k_leak_rule_priority
//                            (the tunnel's own packets skip the DNS rules; FIB_RULE_INVERT
//                            would negate the whole rule, so the mark is matched this way)
//   k_dns_rule_priority+1    to S/32 ipproto udp|tcp dport 53 lookup T, for each pushed server S
//                            (falls through when T has no route to S)
//   k_dns_rule_priority+2    ipproto udp|tcp dport 53 prohibit
//                            (every other DNS query fails at once with EACCES)
// Locally delivered destinations (127.0.0.53, the laptop's own addresses) are decided by the
// local table at priority 0, before any of these.
inline constexpr std::uint32_t k_dns_rule_priority = 32758;
std::vector<platform::RuleSpec> dns_leak_rules(const LeakProtection& protection,
                                               const std::vector<IpAddress>& servers);
// Replaces the DNS rules (any earlier ones at those priorities go first). Throws std::runtime_error.
void install_dns_leak_rules(platform::Netlink& netlink, const LeakProtection& protection,
                            const std::vector<IpAddress>& servers);
// Best effort: deletes every rule at the three DNS priorities.
void remove_dns_leak_rules(platform::Netlink& netlink);

// IPv6 outside an IPv4-only tunnel (leak protection with leak_protection_ipv6 = "block";
// docs/resilience.md "IPv6 outside the tunnel"). IPv6 rules, installed at each establishment
// (what was pushed may change) and removed with the others:
//   k_dns_rule_priority      fwmark M goto k_leak_rule_priority+1          (DNS servers pushed)
//   k_dns_rule_priority+2    ipproto udp|tcp dport 53 prohibit             (DNS servers pushed)
//   k_leak_rule_priority+1   lookup main suppress_prefixlength 0           (either)
//   k_leak_rule_priority+2   not fwmark M prohibit                         (default route pushed)
// main's specific routes (the link's own prefixes, fe80::/64, a route to an IPv6 server) still
// answer, so neighbour discovery and router advertisements keep working; the default route
// learned from the link does not, so everything else fails at once (EACCES). Marked packets
// (the tunnel's own, to an IPv6 server) skip the prohibit rules. Empty when nothing applies.
std::vector<platform::RuleSpec> ipv6_leak_rules(const LeakProtection& protection, bool default_route_pushed,
                                                bool dns_pushed);
// When the tunnel carries IPv6 too (the session has an inner IPv6 address), its IPv6 routes are
// in table T like the IPv4 ones, and the IPv6 rules mirror the IPv4 set instead:
//   k_dns_rule_priority      fwmark M goto k_leak_rule_priority            (block, DNS pushed)
//   k_dns_rule_priority+1    to S/128 ipproto udp|tcp dport 53 lookup T    (block, each IPv6 server S)
//   k_dns_rule_priority+2    ipproto udp|tcp dport 53 prohibit             (block, DNS pushed)
//   k_leak_rule_priority     not fwmark M lookup T suppress_prefixlength 0 (always)
//   k_leak_rule_priority+1   lookup main suppress_prefixlength 0           (always)
//   k_leak_rule_priority+2   not fwmark M lookup T                         (IPv6 default route pushed)
//                            not fwmark M prohibit                         (else: block and an IPv4
//                                                                          default route pushed)
// so with an IPv6 default route pushed, "block" routes the laptop's IPv6 through the tunnel
// rather than refusing it; "allow" (block = false) adds no prohibit and no DNS rule.
struct Ipv6Inside {
  bool default_route = false;          // ::/0 pushed
  std::vector<IpAddress> dns_servers;  // IPv6 DNS servers pushed
};
std::vector<platform::RuleSpec> ipv6_leak_rules(const LeakProtection& protection, bool block,
                                                bool default_route_pushed, bool dns_pushed,
                                                const std::optional<Ipv6Inside>& inside);
// Replaces the IPv6 rules (any at those priorities go first). Throws std::runtime_error.
void install_ipv6_leak_rules(platform::Netlink& netlink, const LeakProtection& protection,
                             bool default_route_pushed, bool dns_pushed);
void install_ipv6_leak_rules(platform::Netlink& netlink, const LeakProtection& protection, bool block,
                             bool default_route_pushed, bool dns_pushed, const std::optional<Ipv6Inside>& inside);
// Best effort: deletes every IPv6 rule at the leak-protection and DNS priorities.
void remove_ipv6_leak_rules(platform::Netlink& netlink);

// Removes leftovers of an earlier run (the DNS rules too), then adds the rules. Throws
// std::runtime_error.
void install_leak_protection(platform::Netlink& netlink, const LeakProtection& protection);
// Best effort (shutdown): deletes the rules (the DNS rules too), logs what the kernel refused.
// Returns true when every rule is gone.
bool remove_leak_protection(platform::Netlink& netlink, const LeakProtection& protection);
// Logs a warning when settings put a default route into a leak-protection table while
// net.ipv4.conf.all.rp_filter is strict (1): replies from the server would then be dropped.
void warn_if_strict_rp_filter(const InterfaceSettings& settings);

}  // namespace postern::tunnel::daemon
