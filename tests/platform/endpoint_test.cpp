// Unit tests for the pure address types: parsing, formatting, prefixes, sockaddr round trips.
#include "platform/endpoint.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::platform {
namespace {

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  const auto v4 = IpAddress::parse("10.9.0.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->to_string(), "10.9.0.1");
  EXPECT_EQ(v4->bytes().size(), 4U);
  EXPECT_EQ(v4->bytes()[0], 10);

  const auto v6 = IpAddress::parse("fd00:0::1");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->to_string(), "fd00::1");  // canonical form
  EXPECT_EQ(v6->bytes().size(), 16U);
  EXPECT_EQ(IpAddress::loopback(IpAddress::Family::v6).to_string(), "::1");
  EXPECT_EQ(IpAddress::any(IpAddress::Family::v4).to_string(), "0.0.0.0");
}

TEST(IpAddressTest, RejectsMalformed) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
                           "::g", "1.2.3.4/8", "[::1]", "abc",
                           "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:00001"}) {
    EXPECT_FALSE(IpAddress::parse(text)) << text;
  }
}

TEST(CidrTest, ParsesPrefixesAndBareAddresses) {
  const auto net = Cidr::parse("10.9.0.1/24");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->prefix_len, 24);
  EXPECT_EQ(net->to_string(), "10.9.0.1/24");
  EXPECT_EQ(net->network().to_string(), "10.9.0.0/24");
  EXPECT_EQ(Cidr::parse("10.9.0.1")->prefix_len, 32);
  EXPECT_EQ(Cidr::parse("fd00::1")->prefix_len, 128);
  EXPECT_EQ(Cidr::parse("fd00:1:2:3::1/50")->network().to_string(), "fd00:1:2::/50");
  EXPECT_EQ(Cidr::parse("0.0.0.0/0")->network().to_string(), "0.0.0.0/0");
  EXPECT_EQ(Cidr::parse("10.255.255.255/9")->network().to_string(), "10.128.0.0/9");
}

TEST(CidrTest, RejectsBadPrefixes) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8",
                           "::/129", "10.0.0.0/8/8", "/8", "10.0.0.0/ 8", "10.0.0.0/999999"}) {
    EXPECT_FALSE(Cidr::parse(text)) << text;
  }
}

TEST(CidrTest, Contains) {
  const auto net = *Cidr::parse("10.20.0.0/16");
  EXPECT_TRUE(net.contains(*IpAddress::parse("10.20.255.1")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("10.21.0.1")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("::ffff:10.20.0.1")));  // other family
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*IpAddress::parse("8.8.8.8")));
}

struct EndpointCase {
  const char* text;
  bool valid;
  const char* formatted;
  std::uint16_t port;
};

TEST(EndpointTest, ParseTable) {
  const std::vector<EndpointCase> cases = {
      {"1.2.3.4:5", true, "1.2.3.4:5", 5},
      {"127.0.0.1:65535", true, "127.0.0.1:65535", 65535},
      {"0.0.0.0:0", true, "0.0.0.0:0", 0},
      {"[::1]:5", true, "[::1]:5", 5},
      {"[fd00:0:0::2]:51820", true, "[fd00::2]:51820", 51820},
      {"[::ffff:1.2.3.4]:80", true, "[::ffff:1.2.3.4]:80", 80},
      {"1.2.3.4", false, "", 0},
      {"1.2.3.4:", false, "", 0},
      {"1.2.3.4:65536", false, "", 0},
      {"1.2.3.4:-1", false, "", 0},
      {"1.2.3.4:+1", false, "", 0},
      {"1.2.3.4:1x", false, "", 0},
      {"::1:5", false, "", 0},       // ambiguous without brackets
      {"[::1]", false, "", 0},
      {"[::1]5", false, "", 0},
      {"[1.2.3.4]:5", false, "", 0},  // brackets are for IPv6
      {"[::1:5", false, "", 0},
      {"host.example:25", false, "", 0},  // no name resolution here
      {"", false, "", 0},
      {":5", false, "", 0},
  };
  for (const auto& c : cases) {
    const auto endpoint = Endpoint::parse(c.text);
    ASSERT_EQ(endpoint.has_value(), c.valid) << c.text;
    if (!c.valid) continue;
    EXPECT_EQ(endpoint->to_string(), c.formatted) << c.text;
    EXPECT_EQ(endpoint->port(), c.port) << c.text;
    // Formatting then parsing again gives the same value.
    EXPECT_EQ(Endpoint::parse(endpoint->to_string()), endpoint) << c.text;
  }
}

TEST(EndpointTest, SockaddrRoundTrip) {
  for (const char* text : {"192.0.2.7:4500", "[2001:db8::7]:443"}) {
    const auto endpoint = *Endpoint::parse(text);
    sockaddr_storage storage{};
    const socklen_t length = endpoint.to_sockaddr(storage);
    EXPECT_EQ(length, endpoint.address().is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    EXPECT_EQ(storage.ss_family, endpoint.address().af());
    EXPECT_EQ(Endpoint::from_sockaddr(storage, length), endpoint) << text;
    // A truncated length or an unknown family is refused, not misread.
    EXPECT_FALSE(Endpoint::from_sockaddr(storage, length - 1));
  }
  sockaddr_storage unix_storage{};
  unix_storage.ss_family = AF_UNIX;
  EXPECT_FALSE(Endpoint::from_sockaddr(unix_storage, sizeof(unix_storage)));
}

}  // namespace
}  // namespace postern::platform
