// TUN interface configuration (see interface_setup.hpp).
#include "tunnel/daemon/interface_setup.hpp"

#include "common/log.hpp"
#include "platform/sysctl.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <stdexcept>

namespace postern::tunnel::daemon {
namespace {

void check(std::error_code ec, platform::Netlink& netlink, const std::string& what) {
  if (!ec) return;
  std::string detail = netlink.last_error_detail();
  throw std::runtime_error(what + ": " + ec.message() + (detail.empty() ? "" : " (" + detail + ")"));
}

std::string fmt_hex(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[v & 0xf]);
    v >>= 4;
  } while (v != 0);
  return "0x" + out;
}

}  // namespace

namespace {

bool is_link_local(const IpAddress& a) { return a.is_v6() && a.bytes()[0] == 0xfe && (a.bytes()[1] & 0xc0) == 0x80; }

// One family's address: the wanted one stays (or is added), any other global one goes.
void set_address(platform::Netlink& netlink, const std::string& ifname, IpAddress::Family family,
                 const std::optional<IpPrefix>& own) {
  std::vector<platform::InterfaceAddress> existing;
  netlink.list_addresses(ifname, family, existing);
  std::optional<platform::InterfaceAddress> wanted;
  if (own) wanted = platform::InterfaceAddress{*own, std::nullopt, own->address.is_v6()};
  for (const auto& a : existing) {
    if (is_link_local(a.local.address) || (wanted && a == *wanted)) continue;
    netlink.delete_address(ifname, a, platform::MissingPolicy::accept);
  }
  if (wanted) {
    check(netlink.add_address(ifname, *wanted, platform::ExistsPolicy::accept), netlink,
          "add address " + own->to_string() + " to " + ifname);
  }
}

}  // namespace

void configure_interface(platform::Netlink& netlink, const InterfaceSettings& s) {
  const std::string& ifname = s.name;
  check(netlink.set_mtu(ifname, s.mtu), netlink, "set MTU of " + ifname);
  check(netlink.set_tx_queue_length(ifname, s.queue_length), netlink, "set the queue length of " + ifname);
  const IpPrefix own{s.address, s.prefix_len};
  set_address(netlink, ifname, IpAddress::Family::v4, own);
  check(netlink.link_up(ifname), netlink, "bring up " + ifname);
  // After link up: IPv6 on a TUN comes alive with the link (NODAD: no tentative period).
  set_address(netlink, ifname, IpAddress::Family::v6, s.address6);
  std::vector<IpPrefix> routes;
  // In a table of its own, the interface's prefix is not implied by the address (the kernel puts
  // that route in main), so it is added there explicitly: the pool is protected too.
  if (s.table) routes.push_back(own.network());
  if (s.table && s.address6) routes.push_back(s.address6->network());
  for (const auto& r : s.routes) {
    if (r.address.is_v4() || s.address6) routes.push_back(r);
  }
  std::vector<IpPrefix> installed;
  for (const auto& r : routes) {
    const IpPrefix& mine = r.address.is_v4() ? own : *s.address6;
    const bool implied = r.prefix_len >= mine.prefix_len && mine.contains(r.address);
    if (implied && !s.table) continue;
    if (r.prefix_len == 0 && !s.table) {
      // In main, a default route via the TUN would replace the host's own and send the tunnel's
      // packets to the server into the tunnel itself: only the marked-socket setup handles it.
      log::warn("tunnel", "", "default_route_ignored",
                {{"interface", ifname}, {"route", r.to_string()}, {"hint", "set leak_protection = true in [tunnel] to use it"}});
      continue;
    }
    platform::RouteSpec route{r, ifname, std::nullopt, s.table, std::nullopt};
    check(netlink.add_route(route, platform::ExistsPolicy::replace), netlink,
          "add route " + route.destination.to_string() + " via " + ifname +
              (s.table ? " in table " + std::to_string(*s.table) : std::string()));
    installed.push_back(r.network());
  }
  // The TUN outlives a reconnect: what an earlier session (or another server of the list) pushed
  // and this one does not is removed, so the routes are exactly this session's.
  std::vector<platform::RouteSpec> existing;
  if (!netlink.list_static_routes(ifname, s.table.value_or(platform::k_table_main), existing)) {
    for (const auto& old : existing) {
      if (std::find(installed.begin(), installed.end(), old.destination.network()) != installed.end()) continue;
      if (!netlink.delete_route(old, platform::MissingPolicy::accept)) {
        log::info("tunnel", "", "stale_route_removed", {{"interface", ifname}, {"route", old.destination.to_string()}});
      }
    }
  }
}

std::vector<platform::RuleSpec> leak_protection_rules(const LeakProtection& p) {
  platform::RuleSpec pushed;
  pushed.fwmark = p.fwmark;
  pushed.invert = true;
  pushed.table = p.table;
  pushed.priority = k_leak_rule_priority;
  pushed.suppress_prefixlength = 0;
  platform::RuleSpec main_specific;
  main_specific.table = platform::k_table_main;
  main_specific.priority = k_leak_rule_priority + 1;
  main_specific.suppress_prefixlength = 0;
  platform::RuleSpec pushed_default = pushed;
  pushed_default.priority = k_leak_rule_priority + 2;
  pushed_default.suppress_prefixlength.reset();
  return {pushed, main_specific, pushed_default};
}

std::vector<platform::RuleSpec> dns_leak_rules(const LeakProtection& p, const std::vector<IpAddress>& servers) {
  constexpr std::uint16_t kDnsPort = 53;
  std::vector<platform::RuleSpec> rules;
  platform::RuleSpec own;
  own.fwmark = p.fwmark;
  own.action = platform::RuleAction::go_to;
  own.goto_priority = k_leak_rule_priority;
  own.priority = k_dns_rule_priority;
  rules.push_back(own);
  for (std::uint8_t proto : {std::uint8_t{IPPROTO_UDP}, std::uint8_t{IPPROTO_TCP}}) {
    for (const auto& server : servers) {
      platform::RuleSpec allow;
      allow.destination = IpPrefix::host(server);
      allow.ip_proto = proto;
      allow.dport = kDnsPort;
      allow.table = p.table;
      allow.priority = k_dns_rule_priority + 1;
      rules.push_back(allow);
    }
    platform::RuleSpec deny;
    deny.ip_proto = proto;
    deny.dport = kDnsPort;
    deny.action = platform::RuleAction::prohibit;
    deny.priority = k_dns_rule_priority + 2;
    rules.push_back(deny);
  }
  return rules;
}

void remove_dns_leak_rules(platform::Netlink& netlink) {
  for (std::uint32_t priority = k_dns_rule_priority; priority <= k_dns_rule_priority + 2; ++priority) {
    platform::RuleSpec any;
    any.priority = priority;
    any.action = platform::RuleAction::any;
    // 2 x 64 servers at most at one priority; stop at the first "no such rule".
    for (int n = 0; n < 2 * 64 + 2 && !netlink.delete_rule(any, platform::MissingPolicy::fail); ++n) {
    }
  }
}

void install_dns_leak_rules(platform::Netlink& netlink, const LeakProtection& p, const std::vector<IpAddress>& servers) {
  remove_dns_leak_rules(netlink);
  for (const auto& rule : dns_leak_rules(p, servers)) {
    check(netlink.add_rule(rule, platform::ExistsPolicy::accept), netlink,
          "add DNS leak-protection rule at priority " + std::to_string(*rule.priority));
  }
  log::info("tunnel", "", "dns_leak_protection_on",
            {{"servers", servers.size()},
             {"rule_priorities", std::to_string(k_dns_rule_priority) + "-" + std::to_string(k_dns_rule_priority + 2)}});
}

std::vector<platform::RuleSpec> ipv6_leak_rules(const LeakProtection& p, bool default_route_pushed, bool dns_pushed) {
  constexpr std::uint16_t kDnsPort = 53;
  std::vector<platform::RuleSpec> rules;
  if (!default_route_pushed && !dns_pushed) return rules;
  const auto v6 = IpAddress::Family::v6;
  if (dns_pushed) {
    platform::RuleSpec own;
    own.family = v6;
    own.fwmark = p.fwmark;
    own.action = platform::RuleAction::go_to;
    own.goto_priority = k_leak_rule_priority + 1;
    own.priority = k_dns_rule_priority;
    rules.push_back(own);
    for (std::uint8_t proto : {std::uint8_t{IPPROTO_UDP}, std::uint8_t{IPPROTO_TCP}}) {
      platform::RuleSpec deny;
      deny.family = v6;
      deny.ip_proto = proto;
      deny.dport = kDnsPort;
      deny.action = platform::RuleAction::prohibit;
      deny.priority = k_dns_rule_priority + 2;
      rules.push_back(deny);
    }
  }
  // The goto target above must exist, and with a pushed default it is what lets the link's own
  // routes through before the prohibit rule.
  platform::RuleSpec main_specific;
  main_specific.family = v6;
  main_specific.table = platform::k_table_main;
  main_specific.priority = k_leak_rule_priority + 1;
  main_specific.suppress_prefixlength = 0;
  rules.push_back(main_specific);
  if (default_route_pushed) {
    platform::RuleSpec rest;
    rest.family = v6;
    rest.fwmark = p.fwmark;
    rest.invert = true;
    rest.action = platform::RuleAction::prohibit;
    rest.priority = k_leak_rule_priority + 2;
    rules.push_back(rest);
  }
  return rules;
}

std::vector<platform::RuleSpec> ipv6_leak_rules(const LeakProtection& p, bool block, bool default_route_pushed,
                                                bool dns_pushed, const std::optional<Ipv6Inside>& inside) {
  if (!inside) return block ? ipv6_leak_rules(p, default_route_pushed, dns_pushed) : std::vector<platform::RuleSpec>{};
  const auto v6 = IpAddress::Family::v6;
  std::vector<platform::RuleSpec> rules;
  if (block && dns_pushed) {
    for (auto rule : dns_leak_rules(p, inside->dns_servers)) {
      rule.family = v6;
      rules.push_back(rule);
    }
  }
  for (auto rule : leak_protection_rules(p)) {
    rule.family = v6;
    if (*rule.priority == k_leak_rule_priority + 2) {
      if (inside->default_route) {
        rules.push_back(rule);
      } else if (block && default_route_pushed) {
        rule.action = platform::RuleAction::prohibit;
        rule.table = platform::k_table_main;
        rules.push_back(rule);
      }
      continue;
    }
    rules.push_back(rule);
  }
  return rules;
}

void remove_ipv6_leak_rules(platform::Netlink& netlink) {
  for (std::uint32_t priority = k_dns_rule_priority; priority <= k_leak_rule_priority + 2; ++priority) {
    platform::RuleSpec any;
    any.family = IpAddress::Family::v6;
    any.priority = priority;
    any.table = 0;
    any.action = platform::RuleAction::any;
    // 2 x 64 servers at most at one priority; stop at the first "no such rule".
    for (int n = 0; n < 2 * 64 + 2 && !netlink.delete_rule(any, platform::MissingPolicy::fail); ++n) {
    }
  }
}

void install_ipv6_leak_rules(platform::Netlink& netlink, const LeakProtection& p, bool default_route_pushed,
                             bool dns_pushed) {
  install_ipv6_leak_rules(netlink, p, true, default_route_pushed, dns_pushed, std::nullopt);
}

void install_ipv6_leak_rules(platform::Netlink& netlink, const LeakProtection& p, bool block,
                             bool default_route_pushed, bool dns_pushed, const std::optional<Ipv6Inside>& inside) {
  remove_ipv6_leak_rules(netlink);
  auto rules = ipv6_leak_rules(p, block, default_route_pushed, dns_pushed, inside);
  for (const auto& rule : rules) {
    check(netlink.add_rule(rule, platform::ExistsPolicy::accept), netlink,
          "add IPv6 leak-protection rule at priority " + std::to_string(*rule.priority));
  }
  if (inside) {
    log::info("tunnel", "", "ipv6_through_tunnel",
              {{"default_route", inside->default_route ? "tunnel" : (block && default_route_pushed ? "blocked" : "main")},
               {"dns", block && dns_pushed ? "pushed servers only" : "unrestricted"}});
  } else if (!rules.empty()) {
    log::info("tunnel", "", "ipv6_leak_protection_on",
              {{"blocked", default_route_pushed ? (dns_pushed ? "ipv6 beyond the local link, ipv6 dns" : "ipv6 beyond the local link")
                                                : "ipv6 dns"}});
  }
}

void install_leak_protection(platform::Netlink& netlink, const LeakProtection& p) {
  remove_dns_leak_rules(netlink);  // a crashed run's would block DNS before our first session
  remove_ipv6_leak_rules(netlink);
  // A crashed run leaves its rules behind (they outlive the process, unlike the TUN routes).
  // Our priorities are reserved for postern; the fwmark/table may have changed since, so a T rule
  // is matched by priority alone (table 0 matches any table), the main rule exactly.
  auto rules = leak_protection_rules(p);
  for (const auto& rule : rules) {
    platform::RuleSpec stale = rule;
    if (rule.table != platform::k_table_main) {
      stale = platform::RuleSpec{};
      stale.priority = rule.priority;
      stale.table = 0;
    }
    for (int copies = 0; copies < 4 && !netlink.delete_rule(stale, platform::MissingPolicy::fail); ++copies) {
      log::info("tunnel", "", "stale_leak_rule_removed", {{"priority", *rule.priority}});
    }
  }
  for (const auto& rule : rules) {
    check(netlink.add_rule(rule, platform::ExistsPolicy::accept), netlink,
          "add leak-protection rule at priority " + std::to_string(*rule.priority));
  }
  log::info("tunnel", "", "leak_protection_on",
            {{"fwmark", fmt_hex(p.fwmark)}, {"table", p.table},
             {"rule_priorities", std::to_string(k_leak_rule_priority) + "-" + std::to_string(k_leak_rule_priority + 2)}});
}

void warn_if_strict_rp_filter(const InterfaceSettings& settings) {
  bool pushes_default = false;
  for (const auto& r : settings.routes) pushes_default |= r.prefix_len == 0;
  if (!settings.table || !pushes_default) return;
  // With a default route in our table, the reverse-path lookup of a reply from the server
  // (unmarked on input) points into the tunnel; strict mode (1) then drops it. wg-quick works
  // around this with src_valid_mark plus a conntrack mark-restore rule; we only warn.
  std::string value;
  if (platform::read_sysctl("net.ipv4.conf.all.rp_filter", value) || value.find('1') == std::string::npos) return;
  log::warn("tunnel", "", "strict_rp_filter",
            {{"hint", "replies from the server may be dropped: sysctl -w net.ipv4.conf.all.rp_filter=2 (loose)"}});
}

bool remove_leak_protection(platform::Netlink& netlink, const LeakProtection& p) {
  remove_dns_leak_rules(netlink);  // first: they point at the rules below
  remove_ipv6_leak_rules(netlink);
  bool all = true;
  for (const auto& rule : leak_protection_rules(p)) {
    if (auto ec = netlink.delete_rule(rule, platform::MissingPolicy::accept)) {
      all = false;
      log::warn("tunnel", "", "leak_rule_remove_failed",
                {{"priority", *rule.priority}, {"error", ec.message()}});
    }
  }
  if (all) log::info("tunnel", "", "leak_protection_removed", {{"table", p.table}});
  return all;
}

}  // namespace postern::tunnel::daemon
