// rtnetlink operations (see netlink.hpp). Message layouts follow include/uapi/linux/rtnetlink.h,
// if_addr.h and fib_rules.h; defaults (scope, protocol, table encoding) mirror what iproute2
// sends so that `ip` shows our objects the way an operator expects.
#include "platform/netlink.hpp"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

namespace postern::platform {
namespace {

bool is_missing_error(const std::error_code& ec) {
  return ec == std::errc::no_such_process ||            // ESRCH: route not found
         ec == std::errc::no_such_file_or_directory ||  // ENOENT: rule not found
         ec == std::errc::address_not_available;        // EADDRNOTAVAIL: address not found
}

std::error_code apply(std::error_code ec, ExistsPolicy policy) {
  if (ec == std::errc::file_exists && policy != ExistsPolicy::fail) return {};
  return ec;
}

std::error_code apply(std::error_code ec, MissingPolicy policy) {
  if (policy == MissingPolicy::accept && is_missing_error(ec)) return {};
  return ec;
}

std::uint16_t create_flags(ExistsPolicy policy) {
  return static_cast<std::uint16_t>(
      NLM_F_CREATE | (policy == ExistsPolicy::replace ? NLM_F_REPLACE : NLM_F_EXCL));
}

std::uint8_t family_of(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? AF_INET : AF_INET6;
}

// rtm_table/frh.table are 8 bits: ids above 255 go in RTA_TABLE/FRA_TABLE only.
std::uint8_t table_byte(std::uint32_t table) {
  return table < 256 ? static_cast<std::uint8_t>(table) : std::uint8_t{RT_TABLE_UNSPEC};
}

std::optional<IpAddress> address_from(std::span<const std::uint8_t> bytes) {
  if (bytes.size() == 4) return IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  if (bytes.size() == 16) {
    std::array<std::uint8_t, 16> copy{};
    std::memcpy(copy.data(), bytes.data(), 16);
    return IpAddress::v6(copy);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(ExistsPolicy policy) {
  switch (policy) {
    case ExistsPolicy::fail: return "fail";
    case ExistsPolicy::accept: return "accept";
    case ExistsPolicy::replace: return "replace";
  }
  return "?";
}

std::string_view to_string(MissingPolicy policy) {
  return policy == MissingPolicy::fail ? "fail" : "accept";
}

Netlink Netlink::open() { return Netlink(NetlinkSocket::open()); }

int Netlink::get_ifindex(std::string_view ifname, std::error_code& ec) const {
  char name[IF_NAMESIZE] = {};
  if (ifname.empty() || ifname.size() >= sizeof(name)) {
    ec = std::make_error_code(std::errc::no_such_device);
    return 0;
  }
  std::memcpy(name, ifname.data(), ifname.size());
  const unsigned index = ::if_nametoindex(name);
  if (index == 0) {
    ec = std::error_code(errno == 0 ? ENODEV : errno, std::system_category());
    return 0;
  }
  ec.clear();
  return static_cast<int>(index);
}

std::error_code Netlink::set_link(std::string_view ifname, std::uint32_t flags,
                                  std::uint32_t change, std::optional<LinkAttribute> attribute) {
  std::error_code ec;
  const int index = get_ifindex(ifname, ec);
  if (ec) return ec;
  NetlinkMessage message(RTM_NEWLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  info.ifi_flags = flags;
  info.ifi_change = change;
  message.put_header(info);
  if (attribute) message.put_u32(attribute->type, attribute->value);
  return socket_.request(message);
}

std::error_code Netlink::link_up(std::string_view ifname) {
  return set_link(ifname, IFF_UP, IFF_UP, std::nullopt);
}

std::error_code Netlink::link_down(std::string_view ifname) {
  return set_link(ifname, 0, IFF_UP, std::nullopt);
}

std::error_code Netlink::set_mtu(std::string_view ifname, std::uint32_t mtu) {
  return set_link(ifname, 0, 0, LinkAttribute{IFLA_MTU, mtu});
}

std::error_code Netlink::set_tx_queue_length(std::string_view ifname, std::uint32_t packets) {
  return set_link(ifname, 0, 0, LinkAttribute{IFLA_TXQLEN, packets});
}

std::error_code Netlink::address_request(std::uint16_t type, std::uint16_t flags, int ifindex,
                                         const InterfaceAddress& address) {
  const IpAddress& local = address.local.address;
  if (address.peer && address.peer->family() != local.family()) {
    return std::make_error_code(std::errc::address_family_not_supported);
  }
  NetlinkMessage message(type, flags);
  ifaddrmsg header{};
  header.ifa_family = family_of(local.family());
  header.ifa_prefixlen = address.local.prefix_len;
  header.ifa_scope = RT_SCOPE_UNIVERSE;
  header.ifa_index = static_cast<std::uint32_t>(ifindex);
  if (address.no_dad && local.is_v6()) header.ifa_flags = IFA_F_NODAD;
  message.put_header(header);
  // IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links and equal to
  // IFA_LOCAL otherwise (what iproute2 sends for `ip addr add A/len`).
  message.put_attr(IFA_LOCAL, local.bytes().data(), local.bytes().size());
  const IpAddress& remote = address.peer ? *address.peer : local;
  message.put_attr(IFA_ADDRESS, remote.bytes().data(), remote.bytes().size());
  return socket_.request(message);
}

std::error_code Netlink::add_address(std::string_view ifname, const InterfaceAddress& address,
                                     ExistsPolicy policy) {
  std::error_code ec;
  const int index = get_ifindex(ifname, ec);
  if (ec) return ec;
  return apply(address_request(RTM_NEWADDR, create_flags(policy), index, address), policy);
}

std::error_code Netlink::delete_address(std::string_view ifname, const InterfaceAddress& address,
                                        MissingPolicy policy) {
  std::error_code ec;
  const int index = get_ifindex(ifname, ec);
  if (ec) return ec;
  return apply(address_request(RTM_DELADDR, 0, index, address), policy);
}

std::error_code Netlink::list_addresses(std::string_view ifname,
                                        std::optional<IpAddress::Family> family,
                                        std::vector<InterfaceAddress>& out) {
  std::error_code ec;
  const int index = get_ifindex(ifname, ec);
  if (ec) return ec;
  out.clear();
  NetlinkMessage message(RTM_GETADDR, 0);
  ifaddrmsg request{};
  request.ifa_family = family ? family_of(*family) : AF_UNSPEC;
  message.put_header(request);
  return socket_.dump(message, [&](std::uint16_t type, std::span<const std::uint8_t> payload) {
    ifaddrmsg header{};
    if (type != RTM_NEWADDR || !read_struct(payload, header)) return;
    if (header.ifa_index != static_cast<std::uint32_t>(index)) return;
    std::optional<IpAddress> local;
    std::optional<IpAddress> remote;
    for_each_attr(payload.subspan(sizeof(header)),
                  [&](std::uint16_t attr, std::span<const std::uint8_t> value) {
                    if (attr == IFA_LOCAL) local = address_from(value);
                    if (attr == IFA_ADDRESS) remote = address_from(value);
                  });
    if (!local) local = remote;  // IPv6 without a peer sends IFA_ADDRESS only
    if (!local) return;
    InterfaceAddress entry{IpPrefix{*local, header.ifa_prefixlen}, std::nullopt};
    if (remote && *remote != *local) entry.peer = remote;
    out.push_back(entry);
  });
}

std::error_code Netlink::flush_addresses(std::string_view ifname,
                                         std::optional<IpAddress::Family> family) {
  std::vector<InterfaceAddress> addresses;
  if (auto ec = list_addresses(ifname, family, addresses)) return ec;
  for (const auto& address : addresses) {
    // Removing an IPv4 primary also removes its secondaries, so later ones may be gone.
    if (auto ec = delete_address(ifname, address, MissingPolicy::accept)) return ec;
  }
  return {};
}

std::error_code Netlink::route_request(std::uint16_t type, std::uint16_t flags,
                                       const RouteSpec& route) {
  std::error_code ec;
  const int index = get_ifindex(route.ifname, ec);
  if (ec) return ec;
  const IpPrefix destination = route.destination.network();
  const bool v4 = destination.address.is_v4();
  if (route.gateway && route.gateway->family() != destination.address.family()) {
    return std::make_error_code(std::errc::address_family_not_supported);
  }
  const std::uint32_t table = route.table.value_or(k_table_main);
  NetlinkMessage message(type, flags);
  rtmsg header{};
  header.rtm_family = family_of(destination.address.family());
  header.rtm_dst_len = destination.prefix_len;
  header.rtm_table = table_byte(table);
  header.rtm_type = RTN_UNICAST;
  if (type == RTM_DELROUTE) {
    header.rtm_scope = RT_SCOPE_NOWHERE;  // "any scope" when matching the route to delete
  } else {
    header.rtm_protocol = RTPROT_STATIC;
    header.rtm_scope = (v4 && !route.gateway) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  }
  message.put_header(header);
  message.put_u32(RTA_TABLE, table);
  if (destination.prefix_len > 0) {
    message.put_attr(RTA_DST, destination.address.bytes().data(), destination.address.bytes().size());
  }
  if (route.gateway) {
    message.put_attr(RTA_GATEWAY, route.gateway->bytes().data(), route.gateway->bytes().size());
  }
  message.put_u32(RTA_OIF, static_cast<std::uint32_t>(index));
  if (route.metric) message.put_u32(RTA_PRIORITY, *route.metric);
  return socket_.request(message);
}

std::error_code Netlink::list_static_routes(std::string_view ifname, std::uint32_t table,
                                            std::vector<RouteSpec>& out) {
  std::error_code ec;
  const int index = get_ifindex(ifname, ec);
  if (ec) return ec;
  out.clear();
  NetlinkMessage message(RTM_GETROUTE, 0);
  rtmsg request{};
  request.rtm_family = AF_UNSPEC;
  message.put_header(request);
  return socket_.dump(message, [&](std::uint16_t type, std::span<const std::uint8_t> payload) {
    rtmsg header{};
    if (type != RTM_NEWROUTE || !read_struct(payload, header)) return;
    if (header.rtm_protocol != RTPROT_STATIC || header.rtm_type != RTN_UNICAST) return;
    if (header.rtm_family != AF_INET && header.rtm_family != AF_INET6) return;
    std::uint32_t route_table = header.rtm_table;
    std::optional<IpAddress> destination, gateway;
    std::optional<std::uint32_t> oif, metric;
    for_each_attr(payload.subspan(sizeof(header)), [&](std::uint16_t attr, std::span<const std::uint8_t> value) {
      std::uint32_t u32 = 0;
      if (value.size() == 4) std::memcpy(&u32, value.data(), 4);
      if (attr == RTA_TABLE && value.size() == 4) route_table = u32;
      if (attr == RTA_OIF && value.size() == 4) oif = u32;
      if (attr == RTA_PRIORITY && value.size() == 4) metric = u32;
      if (attr == RTA_DST) destination = address_from(value);
      if (attr == RTA_GATEWAY) gateway = address_from(value);
    });
    if (route_table != table || oif != static_cast<std::uint32_t>(index)) return;
    if (!destination) destination = IpAddress::any(header.rtm_family == AF_INET ? IpAddress::Family::v4 : IpAddress::Family::v6);
    if (header.rtm_dst_len > destination->max_prefix()) return;
    out.push_back(RouteSpec{IpPrefix{*destination, header.rtm_dst_len}, std::string(ifname), gateway,
                            table == k_table_main ? std::nullopt : std::optional<std::uint32_t>(table), metric});
  });
}

std::error_code Netlink::add_route(const RouteSpec& route, ExistsPolicy policy) {
  return apply(route_request(RTM_NEWROUTE, create_flags(policy), route), policy);
}

std::error_code Netlink::delete_route(const RouteSpec& route, MissingPolicy policy) {
  return apply(route_request(RTM_DELROUTE, 0, route), policy);
}

std::error_code Netlink::rule_request(std::uint16_t type, std::uint16_t flags,
                                      const RuleSpec& rule) {
  NetlinkMessage message(type, flags);
  fib_rule_hdr header{};
  header.family = family_of(rule.family);
  header.table = table_byte(rule.table);
  header.action = FR_ACT_TO_TBL;
  if (rule.action == RuleAction::go_to) header.action = FR_ACT_GOTO;
  if (rule.action == RuleAction::prohibit) header.action = FR_ACT_PROHIBIT;
  if (rule.action == RuleAction::any) header.action = FR_ACT_UNSPEC;
  if (rule.action != RuleAction::to_table) header.table = 0;
  header.flags = rule.invert ? FIB_RULE_INVERT : 0;
  if (rule.destination) header.dst_len = rule.destination->prefix_len;
  message.put_header(header);
  if (rule.action == RuleAction::to_table) message.put_u32(FRA_TABLE, rule.table);
  if (rule.destination) {
    const auto& bytes = rule.destination->address.bytes();
    message.put_attr(FRA_DST, bytes.data(), bytes.size());
  }
  if (rule.ip_proto) message.put_u8(FRA_IP_PROTO, *rule.ip_proto);
  if (rule.dport) {
    fib_rule_port_range range{*rule.dport, *rule.dport};  // host byte order, like iproute2
    message.put_attr(FRA_DPORT_RANGE, &range, sizeof(range));
  }
  if (rule.goto_priority) message.put_u32(FRA_GOTO, *rule.goto_priority);
  if (rule.fwmark) message.put_u32(FRA_FWMARK, *rule.fwmark);
  if (rule.fwmask) message.put_u32(FRA_FWMASK, *rule.fwmask);
  if (rule.priority) message.put_u32(FRA_PRIORITY, *rule.priority);
  if (rule.suppress_prefixlength) {
    message.put_u32(FRA_SUPPRESS_PREFIXLEN, *rule.suppress_prefixlength);
  }
  return socket_.request(message);
}

std::error_code Netlink::add_rule(const RuleSpec& rule, ExistsPolicy policy) {
  // Rules have no replace operation; NLM_F_EXCL makes the kernel report duplicates (EEXIST).
  const auto flags = static_cast<std::uint16_t>(NLM_F_CREATE | NLM_F_EXCL);
  return apply(rule_request(RTM_NEWRULE, flags, rule), policy);
}

std::error_code Netlink::delete_rule(const RuleSpec& rule, MissingPolicy policy) {
  return apply(rule_request(RTM_DELRULE, 0, rule), policy);
}

}  // namespace postern::platform
