// check_inner_packet: short payloads, and IPv6 from a session without IPv6, are malformed without a read past their end
// (the one-byte payload of issue 10 item 6), then source and client isolation.
#include "tunnel/data/inner_check.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace postern::tunnel::data {
namespace {

constexpr std::uint32_t kClient = 0x0A4D0002;  // 10.77.0.2
const InnerPolicy kPolicy{0x0A4D0000, 0xFFFFFF00, 0x0A4D0001, false};

std::vector<std::uint8_t> ipv4(std::uint32_t src, std::uint32_t dst, std::uint8_t ihl = 5) {
  std::vector<std::uint8_t> p(20, 0);
  p[0] = static_cast<std::uint8_t>(0x40 | ihl);
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = static_cast<std::uint8_t>(src >> (24 - 8 * i));
    p[16 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
  }
  return p;
}

TEST(InnerCheck, ShortOrNotIpv4IsMalformed) {
  for (std::size_t n : {0U, 1U, 12U, 19U}) {
    // Exactly n bytes on the heap, so ASan would see a read past the end.
    std::vector<std::uint8_t> p(n, 0x45);
    EXPECT_EQ(check_inner_packet(p, kClient, std::nullopt, kPolicy), InnerVerdict::malformed) << n;
  }
  auto v6 = ipv4(kClient, 0x0A4D0001);
  v6[0] = 0x60;
  EXPECT_EQ(check_inner_packet(v6, kClient, std::nullopt, kPolicy), InnerVerdict::malformed);
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0001, 4), kClient, std::nullopt, kPolicy), InnerVerdict::malformed);
}

TEST(InnerCheck, SourceAndIsolation) {
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0001), kClient, std::nullopt, kPolicy), InnerVerdict::allowed);  // the server
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0xC0A80A05), kClient, std::nullopt, kPolicy), InnerVerdict::allowed);  // a site host
  EXPECT_EQ(check_inner_packet(ipv4(0x0A4D0003, 0x0A4D0001), kClient, std::nullopt, kPolicy), InnerVerdict::spoofed_source);
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0003), kClient, std::nullopt, kPolicy), InnerVerdict::client_to_client);
  InnerPolicy open = kPolicy;
  open.client_to_client = true;
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0003), kClient, std::nullopt, open), InnerVerdict::allowed);
}

// --- IPv6: the session's IPv6 address, pool6 isolation ---

Ipv6Key key(std::string_view text) { return Ipv6Key::of(*IpAddress::parse(text)); }

InnerPolicy policy6(bool client_to_client = false) {
  InnerPolicy p = kPolicy;
  p.client_to_client = client_to_client;
  p.has_pool6 = true;
  p.pool6_network = key("fd00:77::");
  p.pool6_mask = key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0");  // /112
  p.server_address6 = key("fd00:77::1");
  return p;
}

std::vector<std::uint8_t> ipv6(std::string_view src, std::string_view dst, std::size_t size = 40) {
  std::vector<std::uint8_t> p(size, 0);
  p[0] = 0x60;
  const IpAddress source = *IpAddress::parse(src), dest = *IpAddress::parse(dst);
  const auto s = source.bytes();
  const auto d = dest.bytes();
  for (std::size_t i = 0; i < 16; ++i) {
    p[8 + i] = s[i];
    p[24 + i] = d[i];
  }
  return p;
}

TEST(InnerCheck6, KeyIsTheAddressBytes) {
  const Ipv6Key k = key("2001:db8::1:2");
  EXPECT_EQ(k.hi, 0x20010db800000000ULL);
  EXPECT_EQ(k.lo, 0x0000000000010002ULL);
  EXPECT_EQ(k.to_address().to_string(), "2001:db8::1:2");
  EXPECT_EQ(Ipv6KeyHash{}(k), Ipv6KeyHash{}(key("2001:db8::1:2")));
  EXPECT_NE(Ipv6KeyHash{}(k), Ipv6KeyHash{}(key("2001:db8::1:3")));
}

TEST(InnerCheck6, ShortOrWithoutIpv6IsMalformed) {
  const std::optional<Ipv6Key> mine = key("fd00:77::2");
  for (std::size_t n : {1U, 8U, 24U, 39U}) {
    std::vector<std::uint8_t> p(n, 0x60);
    EXPECT_EQ(check_inner_packet(p, kClient, mine, policy6()), InnerVerdict::malformed) << n;
  }
  // A session that has no IPv6 address may send no IPv6 at all.
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::2", "fd00:77::1"), kClient, std::nullopt, policy6()),
            InnerVerdict::malformed);
}

TEST(InnerCheck6, SourceAndIsolation) {
  const std::optional<Ipv6Key> mine = key("fd00:77::2");
  const auto p6 = policy6();
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::2", "fd00:77::1"), kClient, mine, p6), InnerVerdict::allowed);  // the server
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::2", "2001:db8::80"), kClient, mine, p6), InnerVerdict::allowed);  // beyond
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::3", "fd00:77::1"), kClient, mine, p6), InnerVerdict::spoofed_source);
  EXPECT_EQ(check_inner_packet(ipv6("fe80::2", "ff02::2"), kClient, mine, p6), InnerVerdict::spoofed_source);
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::2", "fd00:77::3"), kClient, mine, p6), InnerVerdict::client_to_client);
  EXPECT_EQ(check_inner_packet(ipv6("fd00:77::2", "fd00:77::3"), kClient, mine, policy6(true)), InnerVerdict::allowed);
  // The IPv4 rules are unchanged beside it.
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0003), kClient, mine, p6), InnerVerdict::client_to_client);
  EXPECT_EQ(check_inner_packet(ipv4(0x0A4D0003, 0x0A4D0001), kClient, mine, p6), InnerVerdict::spoofed_source);
}

}  // namespace
}  // namespace postern::tunnel::data
