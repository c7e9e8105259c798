// Unit tests for the address vocabulary (common/ip_address.hpp, common/host_port.hpp): parsing
// and RFC 5952 formatting of both families, prefixes and their host bits, v4-mapped addresses,
// endpoints in both forms, sockaddr round trips, and every malformed form we know of.
#include "common/ip_address.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/host_port.hpp"

namespace postern {
namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

IpPrefix prefix(const char* text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p) << text;
  return p.value_or(IpPrefix{});
}

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  const auto v4 = ip("10.9.0.1");
  EXPECT_TRUE(v4.is_v4());
  EXPECT_EQ(v4.af(), AF_INET);
  EXPECT_EQ(v4.to_string(), "10.9.0.1");
  ASSERT_EQ(v4.bytes().size(), 4U);
  EXPECT_EQ(v4.bytes()[0], 10);
  EXPECT_EQ(v4.bytes()[3], 1);

  const auto v6 = ip("fd00:0::1");
  EXPECT_TRUE(v6.is_v6());
  EXPECT_EQ(v6.af(), AF_INET6);
  EXPECT_EQ(v6.bytes().size(), 16U);
  EXPECT_EQ(v6.to_string(), "fd00::1");
  EXPECT_EQ(IpAddress::loopback(IpAddress::Family::v6).to_string(), "::1");
  EXPECT_EQ(IpAddress::loopback(IpAddress::Family::v4).to_string(), "127.0.0.1");
  EXPECT_EQ(IpAddress::any(IpAddress::Family::v4).to_string(), "0.0.0.0");
  EXPECT_EQ(IpAddress::any(IpAddress::Family::v6).to_string(), "::");
  EXPECT_EQ(IpAddress{}, IpAddress::any(IpAddress::Family::v4));
}

// RFC 5952 4: whatever form is read, one form is written.
TEST(IpAddressTest, FormatsCanonically) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"2001:DB8::1", "2001:db8::1"},                    // 4.3 lower case
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},  // 4.1 no leading zeros
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // 4.2.3 first of two equal runs
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // 4.2.2 a single zero group stays
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},           // 4.2.1 the longest run
      {"0:0:0:0:0:0:0:0", "::"},
      {"1:0:0:0:0:0:0:0", "1::"},
      {"::2:3", "::2:3"},                                // not "::0.2.0.3" (inet_ntop's choice)
      {"::1.2.3.4", "::102:304"},                        // deprecated IPv4-compatible: plain hex
      {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},              // 5: v4-mapped keeps the dotted quad
      {"::FFFF:0102:0304", "::ffff:1.2.3.4"},
      {"fe80::1:2:3:4:5", "fe80::1:2:3:4:5"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(ip(in).to_string(), out) << in;
    EXPECT_EQ(ip(out), ip(in)) << out;  // the canonical form reads back as the same value
  }
}

TEST(IpAddressTest, RejectsMalformed) {
  for (const char* text : {"", "1.2.3", "1.2.3.4.5", "a.b.c.d", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4.",
                           ".1.2.3", "1..2.3", "01.2.3.4", "1.2.3.04", "0x1.2.3.4", "+1.2.3.4", "1.2.3.-4",
                           "10.1", "167772161", "1.2.3.1000", "::g", "1.2.3.4/8", "[::1]", "abc",
                           ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "fe80::1%eth0", "::1 ", "12345::",
                           "::ffff:1.2.3", "::ffff:256.1.1.1",
                           "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:00001"}) {
    EXPECT_FALSE(IpAddress::parse(text)) << text;
  }
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0", 8)));
}

TEST(IpAddressTest, V4HostOrderValue) {
  EXPECT_EQ(ip("10.0.0.1").to_v4_uint(), 0x0a000001U);
  EXPECT_EQ(IpAddress::from_v4_uint(0x0a4d0002U), ip("10.77.0.2"));
  EXPECT_EQ(IpAddress::from_v4_uint(0xffffffffU).to_string(), "255.255.255.255");
  EXPECT_EQ(ip("::1").to_v4_uint(), 0U);  // IPv6 has no v4 value
}

TEST(IpAddressTest, V4MappedIsIPv6UntilUnmapped) {
  const auto mapped = ip("::ffff:10.1.2.3");
  EXPECT_TRUE(mapped.is_v6());
  EXPECT_TRUE(mapped.is_v4_mapped());
  EXPECT_NE(mapped, ip("10.1.2.3"));  // different families are different addresses
  EXPECT_EQ(mapped.unmapped(), ip("10.1.2.3"));
  EXPECT_TRUE(mapped.unmapped().is_v4());
  EXPECT_FALSE(ip("::1").is_v4_mapped());
  EXPECT_EQ(ip("::1").unmapped(), ip("::1"));
  EXPECT_FALSE(ip("10.1.2.3").is_v4_mapped());
  EXPECT_EQ(ip("10.1.2.3").unmapped(), ip("10.1.2.3"));
  EXPECT_FALSE(ip("::fffe:10.1.2.3").is_v4_mapped());
}

TEST(IpAddressTest, Classification) {
  EXPECT_TRUE(ip("0.0.0.0").is_unspecified());
  EXPECT_TRUE(ip("::").is_unspecified());
  EXPECT_FALSE(ip("0.0.0.1").is_unspecified());
  EXPECT_TRUE(ip("127.0.0.53").is_loopback());
  EXPECT_TRUE(ip("::1").is_loopback());
  EXPECT_FALSE(ip("128.0.0.1").is_loopback());
  EXPECT_FALSE(ip("::2").is_loopback());
}

TEST(IpAddressTest, OrdersAndHashesAsAKey) {
  EXPECT_LT(ip("10.0.0.1"), ip("10.0.0.2"));
  EXPECT_LT(ip("10.0.0.255"), ip("10.0.1.0"));
  EXPECT_LT(ip("255.255.255.255"), ip("::"));  // v4 before v6
  std::unordered_set<IpAddress> set{ip("10.0.0.1"), ip("::ffff:10.0.0.1"), ip("10.0.0.1")};
  EXPECT_EQ(set.size(), 2U);
  EXPECT_EQ(set.count(ip("::ffff:10.0.0.1")), 1U);
}

TEST(IpPrefixTest, ParsesAndKeepsTheAddressAsWritten) {
  const auto net = prefix("10.9.0.1/24");
  EXPECT_EQ(net.prefix_len, 24);
  EXPECT_EQ(net.to_string(), "10.9.0.1/24");
  EXPECT_TRUE(net.has_host_bits());
  EXPECT_EQ(net.network().to_string(), "10.9.0.0/24");
  EXPECT_FALSE(net.network().has_host_bits());
  EXPECT_EQ(prefix("fd00:1:2:3::1/50").network().to_string(), "fd00:1:2::/50");
  EXPECT_EQ(prefix("0.0.0.0/0").network().to_string(), "0.0.0.0/0");
  EXPECT_EQ(prefix("10.255.255.255/9").network().to_string(), "10.128.0.0/9");
  EXPECT_EQ(prefix("::/0").network().to_string(), "::/0");
  EXPECT_EQ(prefix("FD00::/8").to_string(), "fd00::/8");
  EXPECT_EQ(IpPrefix::host(ip("10.77.0.1")).to_string(), "10.77.0.1/32");
  EXPECT_EQ(IpPrefix::host(ip("::1")).to_string(), "::1/128");
}

TEST(IpPrefixTest, RejectsBadPrefixes) {
  for (const char* text : {"10.0.0.0", "::1", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8",
                           "::/129", "10.0.0.0/8/8", "/8", "10.0.0.0/ 8", "10.0.0.0/8 ", "10.0.0.0/024",
                           "10.0.0.0/999999", "10.0.0/8", "x/8", "[::]/64", "10.0.0.0/0x8"}) {
    EXPECT_FALSE(IpPrefix::parse(text)) << text;
  }
}

TEST(IpPrefixTest, ContainsOnlyItsOwnFamily) {
  const auto net = prefix("10.20.0.0/16");
  EXPECT_TRUE(net.contains(ip("10.20.0.0")));
  EXPECT_TRUE(net.contains(ip("10.20.255.255")));
  EXPECT_FALSE(net.contains(ip("10.21.0.1")));
  EXPECT_FALSE(net.contains(ip("10.19.255.255")));
  EXPECT_FALSE(net.contains(ip("::ffff:10.20.0.1")));  // other family, even v4-mapped
  EXPECT_TRUE(prefix("10.20.9.9/16").contains(ip("10.20.0.1")));  // host bits in the prefix ignored
  EXPECT_TRUE(prefix("0.0.0.0/0").contains(ip("8.8.8.8")));
  EXPECT_FALSE(prefix("0.0.0.0/0").contains(ip("::1")));
  EXPECT_TRUE(prefix("::/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(prefix("fd00:77::/64").contains(ip("fd00:77::ffff:1")));
  EXPECT_FALSE(prefix("fd00:77::/64").contains(ip("fd00:77:0:1::1")));
  EXPECT_TRUE(prefix("10.0.0.7/32").contains(ip("10.0.0.7")));
  EXPECT_FALSE(prefix("10.0.0.7/32").contains(ip("10.0.0.6")));
}

struct PoolShape {
  const char* prefix;
  const char* netmask;
  const char* broadcast;
  const char* first_host;
};

TEST(IpPrefixTest, PoolHelpers) {
  const std::vector<PoolShape> cases = {
      {"10.77.0.0/24", "255.255.255.0", "10.77.0.255", "10.77.0.1"},
      {"10.77.0.9/24", "255.255.255.0", "10.77.0.255", "10.77.0.1"},  // host bits ignored
      {"10.77.0.0/29", "255.255.255.248", "10.77.0.7", "10.77.0.1"},
      {"10.0.0.0/8", "255.0.0.0", "10.255.255.255", "10.0.0.1"},
      {"10.77.0.4/31", "255.255.255.254", "10.77.0.5", "10.77.0.4"},  // RFC 3021: no network address
      {"10.77.0.4/32", "255.255.255.255", "10.77.0.4", "10.77.0.4"},
      {"0.0.0.0/0", "0.0.0.0", "255.255.255.255", "0.0.0.1"},
      {"fd00:77::/64", "ffff:ffff:ffff:ffff::", "fd00:77::ffff:ffff:ffff:ffff", "fd00:77::1"},
      {"fd00:77::/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "fd00:77::1", "fd00:77::"},
  };
  for (const auto& c : cases) {
    const auto p = prefix(c.prefix);
    EXPECT_EQ(p.netmask().to_string(), c.netmask) << c.prefix;
    EXPECT_EQ(p.broadcast().to_string(), c.broadcast) << c.prefix;
    EXPECT_EQ(p.first_host().to_string(), c.first_host) << c.prefix;
    EXPECT_TRUE(p.contains(p.first_host())) << c.prefix;
    EXPECT_TRUE(p.contains(p.broadcast())) << c.prefix;
  }
}

struct EndpointCase {
  const char* text;
  bool valid;
  const char* formatted;
  std::uint16_t port;
};

TEST(IpEndpointTest, ParseTable) {
  const std::vector<EndpointCase> cases = {
      {"1.2.3.4:5", true, "1.2.3.4:5", 5},
      {"127.0.0.1:65535", true, "127.0.0.1:65535", 65535},
      {"0.0.0.0:0", true, "0.0.0.0:0", 0},
      {"[::1]:5", true, "[::1]:5", 5},
      {"[::]:443", true, "[::]:443", 443},
      {"[fd00:0:0::2]:51820", true, "[fd00::2]:51820", 51820},
      {"[FD00::2]:1", true, "[fd00::2]:1", 1},
      {"[::ffff:1.2.3.4]:80", true, "[::ffff:1.2.3.4]:80", 80},
      {"1.2.3.4", false, "", 0},
      {"1.2.3.4:", false, "", 0},
      {"1.2.3.4:65536", false, "", 0},
      {"1.2.3.4:123456", false, "", 0},
      {"1.2.3.4:-1", false, "", 0},
      {"1.2.3.4:+1", false, "", 0},
      {"1.2.3.4:1x", false, "", 0},
      {"1.2.3.4:05", false, "", 0},
      {"1.2.3.4: 5", false, "", 0},
      {"::1:5", false, "", 0},  // ambiguous without brackets
      {"::1", false, "", 0},
      {"[::1]", false, "", 0},
      {"[::1]:", false, "", 0},
      {"[::1]5", false, "", 0},
      {"[1.2.3.4]:5", false, "", 0},  // brackets are for IPv6
      {"[::1:5", false, "", 0},
      {"[[::1]]:5", false, "", 0},
      {"[fe80::1%eth0]:5", false, "", 0},
      {"host.example:25", false, "", 0},  // no name resolution here
      {"", false, "", 0},
      {":5", false, "", 0},
      {"[]:5", false, "", 0},
  };
  for (const auto& c : cases) {
    const auto endpoint = IpEndpoint::parse(c.text);
    ASSERT_EQ(endpoint.has_value(), c.valid) << c.text;
    if (!c.valid) continue;
    EXPECT_EQ(endpoint->to_string(), c.formatted) << c.text;
    EXPECT_EQ(endpoint->port(), c.port) << c.text;
    EXPECT_EQ(IpEndpoint::parse(endpoint->to_string()), endpoint) << c.text;
  }
}

TEST(IpEndpointTest, SockaddrRoundTrip) {
  for (const char* text : {"192.0.2.7:4500", "[2001:db8::7]:443", "[::ffff:192.0.2.7]:9"}) {
    const auto endpoint = *IpEndpoint::parse(text);
    sockaddr_storage storage{};
    const socklen_t length = endpoint.to_sockaddr(storage);
    EXPECT_EQ(length, endpoint.address().is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    EXPECT_EQ(storage.ss_family, endpoint.address().af());
    EXPECT_EQ(IpEndpoint::from_sockaddr(storage, length), endpoint) << text;
    // A truncated length or an unknown family is refused, not misread.
    EXPECT_FALSE(IpEndpoint::from_sockaddr(storage, length - 1));
  }
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(4500);
  in.sin_addr.s_addr = htonl(0xc0000207);
  sockaddr_storage storage{};
  std::memcpy(&storage, &in, sizeof(in));
  EXPECT_EQ(IpEndpoint::from_sockaddr(storage, sizeof(in))->to_string(), "192.0.2.7:4500");
  sockaddr_storage unix_storage{};
  unix_storage.ss_family = AF_UNIX;
  EXPECT_FALSE(IpEndpoint::from_sockaddr(unix_storage, sizeof(unix_storage)));
}

TEST(HostPortTest, ParseTable) {
  EXPECT_EQ(HostPort::parse("0.0.0.0:443"), (HostPort{"0.0.0.0", 443}));
  EXPECT_EQ(HostPort::parse("vpn.example.org:8443"), (HostPort{"vpn.example.org", 8443}));
  EXPECT_EQ(HostPort::parse("[::1]:25"), (HostPort{"::1", 25}));
  EXPECT_EQ(HostPort::parse("[::1]:25")->to_string(), "[::1]:25");
  EXPECT_EQ(HostPort::parse("a:65535")->port, 65535);
  for (const char* bad : {"0.0.0.0", "0.0.0.0:0", "0.0.0.0:65536", "::1:25", "[::1]25", ":443", "h:x", "h:",
                          "h:+5", "h:-5", "[1.2.3.4]:25", "[name]:25", "[::1:25", "", "[]:25", "h:1:2"}) {
    EXPECT_FALSE(HostPort::parse(bad)) << bad;
  }
}

TEST(HostPortTest, DefaultPort) {
  EXPECT_EQ(HostPort::parse("mx.example", 25), (HostPort{"mx.example", 25}));
  EXPECT_EQ(HostPort::parse("[2001:db8::25]", 25), (HostPort{"2001:db8::25", 25}));
  EXPECT_EQ(HostPort::parse("192.0.2.25:587", 25), (HostPort{"192.0.2.25", 587}));
  for (const char* bad : {"", ":25", "mx:", "mx:0", "::1", "[::1]x", "[1.2.3.4]"}) {
    EXPECT_FALSE(HostPort::parse(bad, 25)) << bad;
  }
}

TEST(HostPortTest, IpLiterals) {
  EXPECT_TRUE(is_ip_literal("192.0.2.1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::1"));
  EXPECT_FALSE(is_ip_literal("[2001:db8::1]"));
  EXPECT_FALSE(is_ip_literal("mx.example"));
  EXPECT_FALSE(is_ip_literal("010.0.0.1"));
  EXPECT_TRUE((HostPort{"2001:db8::1", 1}).is_ip_literal());
  EXPECT_FALSE((HostPort{"vpn.example", 1}).is_ip_literal());
}

}  // namespace
}  // namespace postern
