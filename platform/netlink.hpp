// Netlink: interface, address, route and policy-rule configuration over rtnetlink, the
// kernel API that `ip link/addr/route/rule` use (no `ip` process is ever run).
// Contract: every call sends one request (or one dump plus requests), waits for the kernel's
// answer and returns its errno as std::error_code (0 = done); last_error_detail() adds the
// kernel's extended-ack text when present. Nothing here throws except open() and
// NetlinkMessage overflow (a programming error). Needs CAP_NET_ADMIN for changes.
// Idempotence: add_* take an ExistsPolicy and delete_* a MissingPolicy, so a daemon restart
// that finds its own leftovers can choose to accept them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/ip_address.hpp"
#include "platform/netlink_socket.hpp"

namespace postern::platform {

enum class ExistsPolicy {
  fail,     // EEXIST is an error
  accept,   // EEXIST counts as success (the object is already there)
  replace,  // NLM_F_REPLACE: overwrite (routes, addresses; rules treat it as accept)
};
std::string_view to_string(ExistsPolicy policy);

enum class MissingPolicy {
  fail,    // ESRCH/ENOENT/EADDRNOTAVAIL is an error
  accept,  // deleting something already gone counts as success
};
std::string_view to_string(MissingPolicy policy);

// Kernel routing table ids (linux/rtnetlink.h rt_class_t).
inline constexpr std::uint32_t k_table_main = 254;
inline constexpr std::uint32_t k_table_local = 255;

struct InterfaceAddress {
  IpPrefix local;                       // e.g. 10.9.0.1/24: the prefix route is derived from it
  std::optional<IpAddress> peer;    // point-to-point peer (`ip addr add L peer P`), TUN-friendly
  // IPv6: IFA_F_NODAD (`ip addr add ... nodad`), usable at once instead of tentative for the
  // duplicate address detection (pointless on a TUN: nobody else is on the link). Only sent by
  // add_address; not part of equality (list_addresses does not report it).
  bool no_dad = false;
  friend bool operator==(const InterfaceAddress& a, const InterfaceAddress& b) {
    return a.local == b.local && a.peer == b.peer;
  }
};

struct RouteSpec {
  IpPrefix destination;                       // host bits are cleared before sending
  std::string ifname;                     // output interface
  std::optional<IpAddress> gateway;       // none: on-link (scope link), the TUN case
  std::optional<std::uint32_t> table;     // none: main
  std::optional<std::uint32_t> metric;    // RTA_PRIORITY
};

// A policy routing rule (`ip rule`), enough for wg-quick style leak protection:
//   {fwmark=M, invert=true, table=T}           = `not fwmark M table T`
//   {table=main, suppress_prefixlength=0}      = `table main suppress_prefixlength 0`
//   {destination=S/32, ip_proto=17, dport=53}  = `to S/32 ipproto udp dport 53 table T`
//   {ip_proto=17, dport=53, action=prohibit}   = `ipproto udp dport 53 prohibit` (EACCES)
//   {fwmark=M, action=go_to, goto_priority=P}  = `fwmark M goto P`
// FIB_RULE_INVERT negates the whole match, not one selector: combine it with fwmark alone.
enum class RuleAction : std::uint8_t {
  to_table,  // FR_ACT_TO_TBL: look up `table`
  go_to,     // FR_ACT_GOTO: continue at the rule with priority goto_priority
  prohibit,  // FR_ACT_PROHIBIT: the route lookup fails with EACCES
  any,       // deletes only: match a rule whatever its action
};
struct RuleSpec {
  IpAddress::Family family = IpAddress::Family::v4;
  std::optional<std::uint32_t> fwmark;
  std::optional<std::uint32_t> fwmask;    // defaults to 0xffffffff in the kernel when fwmark set
  bool invert = false;                    // FIB_RULE_INVERT: "not"
  std::uint32_t table = k_table_main;
  std::optional<std::uint32_t> priority;  // none: the kernel picks one
  std::optional<std::uint32_t> suppress_prefixlength;
  std::optional<IpPrefix> destination;        // FRA_DST
  std::optional<std::uint8_t> ip_proto;   // FRA_IP_PROTO (IPPROTO_UDP...)
  std::optional<std::uint16_t> dport;     // FRA_DPORT_RANGE of one port
  RuleAction action = RuleAction::to_table;
  std::optional<std::uint32_t> goto_priority;  // FRA_GOTO, with action go_to
};

class Netlink {
 public:
  // Setup-time: throws std::system_error if the socket cannot be opened.
  static Netlink open();

  // if_nametoindex; 0 and ec=ENODEV when there is no such interface.
  int get_ifindex(std::string_view ifname, std::error_code& ec) const;

  std::error_code link_up(std::string_view ifname);
  std::error_code link_down(std::string_view ifname);
  std::error_code set_mtu(std::string_view ifname, std::uint32_t mtu);
  // txqueuelen: for a TUN, how many packets the kernel queues for the daemon to read before it
  // drops (counted as the interface's TX dropped).
  std::error_code set_tx_queue_length(std::string_view ifname, std::uint32_t packets);

  std::error_code add_address(std::string_view ifname, const InterfaceAddress& address,
                              ExistsPolicy policy = ExistsPolicy::fail);
  std::error_code delete_address(std::string_view ifname, const InterfaceAddress& address,
                                 MissingPolicy policy = MissingPolicy::fail);
  // Addresses of one family (or both when family is nullopt) on ifname.
  std::error_code list_addresses(std::string_view ifname, std::optional<IpAddress::Family> family,
                                 std::vector<InterfaceAddress>& out);
  // Deletes every address of the given family (or all) from ifname.
  std::error_code flush_addresses(std::string_view ifname,
                                  std::optional<IpAddress::Family> family = std::nullopt);

  // The static-protocol routes (what add_route installs: `proto static`) through ifname in
  // `table`, both families; the kernel's own (the prefix routes of addresses, IPv6 fe80::/64 and
  // multicast) are left out. Each as add_route/delete_route take it.
  std::error_code list_static_routes(std::string_view ifname, std::uint32_t table, std::vector<RouteSpec>& out);
  std::error_code add_route(const RouteSpec& route, ExistsPolicy policy = ExistsPolicy::fail);
  std::error_code delete_route(const RouteSpec& route, MissingPolicy policy = MissingPolicy::fail);

  std::error_code add_rule(const RuleSpec& rule, ExistsPolicy policy = ExistsPolicy::fail);
  std::error_code delete_rule(const RuleSpec& rule, MissingPolicy policy = MissingPolicy::fail);

  // Kernel's reason for the last failure ("Nexthop has invalid gateway"), may be "".
  const std::string& last_error_detail() const { return socket_.last_error_detail(); }

 private:
  explicit Netlink(NetlinkSocket socket) : socket_(std::move(socket)) {}

  struct LinkAttribute {
    std::uint16_t type;  // IFLA_MTU, IFLA_TXQLEN
    std::uint32_t value;
  };
  std::error_code set_link(std::string_view ifname, std::uint32_t flags, std::uint32_t change,
                           std::optional<LinkAttribute> attribute);
  std::error_code address_request(std::uint16_t type, std::uint16_t flags, int ifindex,
                                  const InterfaceAddress& address);
  std::error_code route_request(std::uint16_t type, std::uint16_t flags, const RouteSpec& route);
  std::error_code rule_request(std::uint16_t type, std::uint16_t flags, const RuleSpec& rule);

  NetlinkSocket socket_;
};

}  // namespace postern::platform
