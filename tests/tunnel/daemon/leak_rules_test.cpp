// The IPv6 leak-protection rules (tunnel/daemon/interface_setup): which rules for which pushed
// settings, in priority order, so an IPv4-only tunnel does not let the laptop's IPv6 go around it.
#include "tunnel/daemon/interface_setup.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>

namespace postern::tunnel::daemon {
namespace {

const LeakProtection kProtection{0x7073, 7073};

TEST(Ipv6LeakRules, NothingPushedThatIpv6CouldBypass) {
  EXPECT_TRUE(ipv6_leak_rules(kProtection, false, false).empty());
}

TEST(Ipv6LeakRules, DefaultRouteRefusesEverythingButMainsSpecificRoutes) {
  auto rules = ipv6_leak_rules(kProtection, true, false);
  ASSERT_EQ(rules.size(), 2u);
  for (const auto& r : rules) EXPECT_EQ(r.family, IpAddress::Family::v6);
  EXPECT_EQ(rules[0].priority, k_leak_rule_priority + 1);
  EXPECT_EQ(rules[0].table, platform::k_table_main);
  EXPECT_EQ(rules[0].suppress_prefixlength, 0u);
  EXPECT_EQ(rules[0].action, platform::RuleAction::to_table);
  EXPECT_EQ(rules[1].priority, k_leak_rule_priority + 2);
  EXPECT_EQ(rules[1].action, platform::RuleAction::prohibit);
  EXPECT_TRUE(rules[1].invert);  // the tunnel's own (marked) packets skip it
  EXPECT_EQ(rules[1].fwmark, kProtection.fwmark);
  EXPECT_FALSE(rules[1].ip_proto);
}

TEST(Ipv6LeakRules, PushedDnsRefusesIpv6DnsAndLetsTheTunnelsOwnPacketsThrough) {
  auto rules = ipv6_leak_rules(kProtection, false, true);
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0].priority, k_dns_rule_priority);
  EXPECT_EQ(rules[0].action, platform::RuleAction::go_to);
  EXPECT_EQ(rules[0].fwmark, kProtection.fwmark);
  EXPECT_FALSE(rules[0].invert);
  // The goto target exists in the IPv6 rule list (a goto to a missing priority is skipped).
  EXPECT_EQ(rules[0].goto_priority, k_leak_rule_priority + 1);
  EXPECT_EQ(rules[3].priority, k_leak_rule_priority + 1);
  for (int i : {1, 2}) {
    EXPECT_EQ(rules[i].priority, k_dns_rule_priority + 2);
    EXPECT_EQ(rules[i].action, platform::RuleAction::prohibit);
    EXPECT_EQ(rules[i].dport, 53);
  }
  EXPECT_EQ(rules[1].ip_proto, IPPROTO_UDP);
  EXPECT_EQ(rules[2].ip_proto, IPPROTO_TCP);
  // Without a pushed default route nothing but DNS is refused.
  for (const auto& r : rules) {
    if (r.action == platform::RuleAction::prohibit) {
      EXPECT_EQ(r.dport, 53);
    }
  }
}

TEST(Ipv6LeakRules, BothInPriorityOrder) {
  auto rules = ipv6_leak_rules(kProtection, true, true);
  ASSERT_EQ(rules.size(), 5u);
  for (std::size_t i = 1; i < rules.size(); ++i) EXPECT_LE(*rules[i - 1].priority, *rules[i].priority);
  EXPECT_EQ(rules.back().action, platform::RuleAction::prohibit);
  EXPECT_TRUE(rules.back().invert);
}

// --- the tunnel carries IPv6 too: its IPv6 routes are in table T, the rules mirror IPv4's ---

TEST(Ipv6LeakRules, TunnelWithIpv6DefaultRouteRoutesIpv6ThroughIt) {
  Ipv6Inside inside;
  inside.default_route = true;
  for (bool block : {true, false}) {
    auto rules = ipv6_leak_rules(kProtection, block, true, false, inside);
    ASSERT_EQ(rules.size(), 3u) << block;
    for (const auto& r : rules) {
      EXPECT_EQ(r.family, IpAddress::Family::v6);
      EXPECT_NE(r.action, platform::RuleAction::prohibit) << "IPv6 goes through the tunnel, not refused";
    }
    EXPECT_EQ(rules[0].priority, k_leak_rule_priority);
    EXPECT_EQ(rules[0].table, kProtection.table);
    EXPECT_EQ(rules[0].suppress_prefixlength, 0u);
    EXPECT_TRUE(rules[0].invert);
    EXPECT_EQ(rules[1].priority, k_leak_rule_priority + 1);
    EXPECT_EQ(rules[1].table, platform::k_table_main);
    EXPECT_EQ(rules[2].priority, k_leak_rule_priority + 2);
    EXPECT_EQ(rules[2].table, kProtection.table);
    EXPECT_EQ(rules[2].action, platform::RuleAction::to_table);
    EXPECT_TRUE(rules[2].invert);  // the tunnel's own (marked) packets use main
    EXPECT_EQ(rules[2].fwmark, kProtection.fwmark);
  }
}

TEST(Ipv6LeakRules, TunnelWithIpv6RoutesButOnlyAnIpv4DefaultStillBlocks) {
  Ipv6Inside inside;  // specific IPv6 routes only
  auto rules = ipv6_leak_rules(kProtection, true, true, false, inside);
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].table, kProtection.table);  // the pushed IPv6 routes win over main
  EXPECT_EQ(rules[2].priority, k_leak_rule_priority + 2);
  EXPECT_EQ(rules[2].action, platform::RuleAction::prohibit);
  // "allow": the pushed routes, nothing refused.
  rules = ipv6_leak_rules(kProtection, false, true, false, inside);
  ASSERT_EQ(rules.size(), 2u);
  // No default route at all: the pushed routes still need their rule.
  rules = ipv6_leak_rules(kProtection, true, false, false, inside);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].priority, k_leak_rule_priority);
}

TEST(Ipv6LeakRules, TunnelWithIpv6DnsLetsThePushedIpv6ServersThrough) {
  Ipv6Inside inside;
  inside.default_route = true;
  inside.dns_servers = {*IpAddress::parse("fd00:77::1")};
  auto rules = ipv6_leak_rules(kProtection, true, true, true, inside);
  // dns: goto, allow udp, prohibit udp, allow tcp, prohibit tcp; then the three routing rules.
  ASSERT_EQ(rules.size(), 8u);
  EXPECT_EQ(rules[0].priority, k_dns_rule_priority);
  EXPECT_EQ(rules[0].goto_priority, k_leak_rule_priority);  // exists: the IPv6 set has it now
  int allowed = 0;
  for (const auto& r : rules) {
    EXPECT_EQ(r.family, IpAddress::Family::v6);
    if (r.priority == k_dns_rule_priority + 1) {
      ++allowed;
      ASSERT_TRUE(r.destination);
      EXPECT_EQ(r.destination->to_string(), "fd00:77::1/128");
      EXPECT_EQ(r.table, kProtection.table);
      EXPECT_EQ(r.dport, 53);
    }
  }
  EXPECT_EQ(allowed, 2);  // udp and tcp
  // "allow": no DNS rule at all.
  EXPECT_EQ(ipv6_leak_rules(kProtection, false, true, true, inside).size(), 3u);
  // Without IPv6 in the tunnel the old rules stand (and "allow" has none).
  auto old_rules = ipv6_leak_rules(kProtection, true, true);
  auto same = ipv6_leak_rules(kProtection, true, true, true, std::nullopt);
  ASSERT_EQ(same.size(), old_rules.size());
  for (std::size_t i = 0; i < same.size(); ++i) {
    EXPECT_EQ(same[i].priority, old_rules[i].priority);
    EXPECT_EQ(same[i].action, old_rules[i].action);
  }
  EXPECT_TRUE(ipv6_leak_rules(kProtection, false, true, true, std::nullopt).empty());
}

}  // namespace
}  // namespace postern::tunnel::daemon
