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

}  // namespace
}  // namespace postern::tunnel::daemon
