// check_inner_packet: short and non-IPv4 payloads are malformed without a read past their end
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
    EXPECT_EQ(check_inner_packet(p, kClient, kPolicy), InnerVerdict::malformed) << n;
  }
  auto v6 = ipv4(kClient, 0x0A4D0001);
  v6[0] = 0x60;
  EXPECT_EQ(check_inner_packet(v6, kClient, kPolicy), InnerVerdict::malformed);
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0001, 4), kClient, kPolicy), InnerVerdict::malformed);
}

TEST(InnerCheck, SourceAndIsolation) {
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0001), kClient, kPolicy), InnerVerdict::allowed);  // the server
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0xC0A80A05), kClient, kPolicy), InnerVerdict::allowed);  // a site host
  EXPECT_EQ(check_inner_packet(ipv4(0x0A4D0003, 0x0A4D0001), kClient, kPolicy), InnerVerdict::spoofed_source);
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0003), kClient, kPolicy), InnerVerdict::client_to_client);
  InnerPolicy open = kPolicy;
  open.client_to_client = true;
  EXPECT_EQ(check_inner_packet(ipv4(kClient, 0x0A4D0003), kClient, open), InnerVerdict::allowed);
}

}  // namespace
}  // namespace postern::tunnel::data
