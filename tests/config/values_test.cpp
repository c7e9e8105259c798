// Table tests for the configuration value parsers: durations, sizes, IPv4, CIDRs, endpoints.
#include "common/duration.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

using std::chrono::milliseconds;

TEST(Duration, Table) {
  struct Case {
    const char* text;
    std::optional<milliseconds> want;
  } cases[] = {
      {"300ms", milliseconds(300)}, {"10s", milliseconds(10'000)}, {"2m", milliseconds(120'000)},
      {"1h", milliseconds(3'600'000)}, {"1h30m", milliseconds(5'400'000)}, {"0s", milliseconds(0)},
      {"1d", milliseconds(86'400'000)}, {"", std::nullopt}, {"10", std::nullopt}, {"s", std::nullopt},
      {"10x", std::nullopt}, {"-1s", std::nullopt}, {"1.5s", std::nullopt}, {" 1s", std::nullopt},
      {"99999999999999999999h", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_duration(c.text), c.want) << c.text;
}

TEST(Size, Table) {
  struct Case {
    const char* text;
    std::optional<std::uint64_t> want;
  } cases[] = {
      {"35M", 35ull << 20}, {"512K", 512ull << 10}, {"1G", 1ull << 30}, {"100", 100},
      {"2MB", 2ull << 20}, {"0", 0}, {"", std::nullopt}, {"M", std::nullopt}, {"1T", std::nullopt},
      {"-5", std::nullopt}, {"99999999999999999999G", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_size(c.text), c.want) << c.text;
}

TEST(Ipv4, ParseAndFormat) {
  EXPECT_EQ(parse_ipv4("10.77.0.1"), 0x0a4d0001u);
  EXPECT_EQ(parse_ipv4("255.255.255.255"), 0xffffffffu);
  for (const char* bad : {"10.77.0", "10.77.0.1.2", "256.0.0.1", "010.0.0.1", "a.b.c.d", "1..2.3", ""})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
  EXPECT_EQ(format_ipv4(0x0a4d0001u), "10.77.0.1");
}

TEST(Ipv4Cidr, Arithmetic) {
  auto c = parse_ipv4_cidr("10.77.0.0/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix_len, 24);
  EXPECT_EQ(format_ipv4(c->first_host()), "10.77.0.1");
  EXPECT_EQ(format_ipv4(c->broadcast()), "10.77.0.255");
  EXPECT_TRUE(c->contains(*parse_ipv4("10.77.0.200")));
  EXPECT_FALSE(c->contains(*parse_ipv4("10.77.1.1")));
  EXPECT_EQ(c->to_string(), "10.77.0.0/24");
  EXPECT_EQ(parse_ipv4_cidr("0.0.0.0/0")->netmask(), 0u);
  for (const char* bad : {"10.77.0.0", "10.77.0.0/33", "10.77.0.0/", "10.77.0.0/024", "x/8"})
    EXPECT_FALSE(parse_ipv4_cidr(bad)) << bad;
}

TEST(Endpoint, Parse) {
  EXPECT_EQ(parse_endpoint("0.0.0.0:443"), (Endpoint{"0.0.0.0", 443}));
  EXPECT_EQ(parse_endpoint("vpn.example.org:8443"), (Endpoint{"vpn.example.org", 8443}));
  EXPECT_EQ(parse_endpoint("[::1]:25"), (Endpoint{"::1", 25}));
  EXPECT_EQ(parse_endpoint("[::1]:25")->to_string(), "[::1]:25");
  for (const char* bad : {"0.0.0.0", "0.0.0.0:0", "0.0.0.0:65536", "::1:25", "[::1]25", ":443", "h:x"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

}  // namespace
}  // namespace postern::config
