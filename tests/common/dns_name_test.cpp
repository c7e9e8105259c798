// Table test for the DNS name rules shared by config, wire decoder and resolver.
#include "common/dns_name.hpp"

#include <gtest/gtest.h>

namespace postern::dns {
namespace {

TEST(DnsName, Table) {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  // 4 x 63 + 3 dots = 255 > 253; 3 x 63 + 61 + 3 dots = 253.
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  struct Case {
    std::string name;
    bool ok;
  } cases[] = {
      {"site.example", true},  {"corp", true},           {"a-b.c0", true},      {"EXAMPLE.org", true},
      {label63 + ".x", true},  {label64 + ".x", false},  {name253, true},       {name253 + "b", false},
      {"", false},             {".site", false},         {"site.", false},      {"a..b", false},
      {"a_b.example", false},  {"a b", false},           {"~site.example", false}, {"é.example", false},
  };
  for (const auto& c : cases) EXPECT_EQ(is_dns_name(c.name), c.ok) << c.name;
}

TEST(DnsName, ParseDomain) {
  auto search = parse_domain("Site.Example");
  ASSERT_TRUE(search);
  EXPECT_EQ(search->name, "site.example");
  EXPECT_FALSE(search->routing_only);
  EXPECT_EQ(search->to_string(), "site.example");
  auto routing = parse_domain("~intranet.site.test");
  ASSERT_TRUE(routing);
  EXPECT_TRUE(routing->routing_only);
  EXPECT_EQ(routing->to_string(), "~intranet.site.test");
  EXPECT_FALSE(parse_domain("~"));
  EXPECT_FALSE(parse_domain("~~a.b"));
  EXPECT_FALSE(parse_domain("~."));
}

}  // namespace
}  // namespace postern::dns
