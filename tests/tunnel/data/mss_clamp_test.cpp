// MSS clamping on real SYN bytes (IPv4 and IPv6), verified with a from-scratch TCP checksum over
// the pseudo-header (RFC 9293 section 3.1), plus every case that must be left alone.
#include "tunnel/data/mss_clamp.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {
namespace {

std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) sum += load_be16(&bytes[i]);
  if (bytes.size() % 2) sum += std::uint32_t{bytes.back()} << 8;
  return sum;
}

std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// One's-complement sum over pseudo-header + segment; 0xFFFF when the checksum field is right.
std::uint16_t tcp_sum(std::span<const std::uint8_t> packet) {
  std::uint32_t sum = 0;
  std::span<const std::uint8_t> tcp;
  if ((packet[0] >> 4) == 4) {
    const std::size_t ihl = (packet[0] & 0xF) * 4u;
    tcp = packet.subspan(ihl, load_be16(&packet[2]) - ihl);
    sum = sum_words(packet.subspan(12, 8)) + 6 + static_cast<std::uint32_t>(tcp.size());
  } else {
    std::size_t offset = 40;
    if (packet[6] != 6) offset += (packet[41] + 1u) * 8;  // one extension header in these tests
    tcp = packet.subspan(offset, 40 + load_be16(&packet[4]) - offset);
    sum = sum_words(packet.subspan(8, 32)) + 6 + static_cast<std::uint32_t>(tcp.size());
  }
  return fold(sum_words(tcp, sum));
}

void fix_checksum(std::vector<std::uint8_t>& packet, std::size_t tcp_offset) {
  store_be16(&packet[tcp_offset + 16], 0);
  store_be16(&packet[tcp_offset + 16], static_cast<std::uint16_t>(~tcp_sum(packet)));
  ASSERT_EQ(tcp_sum(packet), 0xFFFF);
}

std::uint16_t mss_at(const std::vector<std::uint8_t>& packet, std::size_t offset) {
  return load_be16(&packet[offset]);
}

// A Linux SYN 192.168.0.104:51000 -> 192.168.0.1:443: MSS 1460, SACK-permitted, timestamps,
// NOP, window scale 7.
std::vector<std::uint8_t> ipv4_syn() {
  std::vector<std::uint8_t> p = {
      0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x9c, 0xf5, 0xc0, 0xa8, 0x00, 0x68,
      0xc0, 0xa8, 0x00, 0x01,                                                          // IPv4
      0xc7, 0x38, 0x01, 0xbb, 0x6e, 0x1b, 0x3a, 0x10, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
      0x00, 0x00, 0x00, 0x00,                                                          // TCP
      0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x9a, 0x1e, 0x2f, 0x30, 0x00, 0x00, 0x00, 0x00,
      0x01, 0x03, 0x03, 0x07};                                                        // options
  fix_checksum(p, 20);
  return p;
}

// fe80::1 -> fe80::2 SYN with MSS 1440, preceded by a hop-by-hop header (PadN) if asked.
std::vector<std::uint8_t> ipv6_syn(bool with_hop_by_hop) {
  std::vector<std::uint8_t> p = {0x60, 0x0a, 0xbc, 0xde, 0x00, 0x00, 0x06, 0x40};
  for (int i = 0; i < 2; ++i) {
    const std::uint8_t addr[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(i + 1)};
    p.insert(p.end(), addr, addr + 16);
  }
  if (with_hop_by_hop) {
    p[6] = 0;  // next header: hop-by-hop
    const std::uint8_t hbh[8] = {0x06, 0x00, 0x01, 0x04, 0, 0, 0, 0};
    p.insert(p.end(), hbh, hbh + 8);
  }
  const std::size_t tcp_offset = p.size();
  const std::uint8_t tcp[28] = {0xd4, 0x31, 0x00, 0x19, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0x70, 0x02, 0xfd, 0x20,
                                0, 0, 0, 0, 0x02, 0x04, 0x05, 0xa0, 0x01, 0x01, 0x04, 0x02};
  p.insert(p.end(), tcp, tcp + 28);
  store_be16(&p[4], static_cast<std::uint16_t>(p.size() - 40));
  fix_checksum(p, tcp_offset);
  return p;
}

TEST(MssClamp, Ipv4SynLowered) {
  auto p = ipv4_syn();
  EXPECT_TRUE(clamp_tcp_mss(p, 1360));
  EXPECT_EQ(mss_at(p, 42), 1360);
  EXPECT_EQ(tcp_sum(p), 0xFFFF);
}

TEST(MssClamp, Ipv4AlreadySmallEnoughUntouched) {
  auto p = ipv4_syn();
  const auto before = p;
  EXPECT_FALSE(clamp_tcp_mss(p, 1460));
  EXPECT_FALSE(clamp_tcp_mss(p, 9000));
  EXPECT_EQ(p, before);
}

TEST(MssClamp, OddOffsetOption) {
  // Put a NOP before the MSS option so its value lands at an odd offset of the segment.
  auto p = ipv4_syn();
  const std::uint8_t options[20] = {0x01, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x9a,
                                    0x1e, 0x2f, 0x30, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01};
  std::copy(std::begin(options), std::end(options), p.begin() + 40);
  fix_checksum(p, 20);
  ASSERT_EQ(p[41], 0x02);
  EXPECT_TRUE(clamp_tcp_mss(p, 1200));
  EXPECT_EQ(mss_at(p, 43), 1200);
  EXPECT_EQ(tcp_sum(p), 0xFFFF);
}

TEST(MssClamp, ManyValuesKeepChecksumValid) {
  for (std::uint16_t max : {0, 1, 536, 1000, 1359, 1459}) {
    auto p = ipv4_syn();
    ASSERT_TRUE(clamp_tcp_mss(p, max));
    EXPECT_EQ(mss_at(p, 42), max);
    EXPECT_EQ(tcp_sum(p), 0xFFFF) << max;
  }
}

TEST(MssClamp, Ipv6Syn) {
  for (bool hbh : {false, true}) {
    auto p = ipv6_syn(hbh);
    EXPECT_TRUE(clamp_tcp_mss(p, 1380)) << hbh;
    EXPECT_EQ(mss_at(p, (hbh ? 48 : 40) + 22), 1380);
    EXPECT_EQ(tcp_sum(p), 0xFFFF);
  }
}

TEST(MssClamp, LeftAlone) {
  auto not_syn = ipv4_syn();
  not_syn[33] = 0x10;  // ACK only
  fix_checksum(not_syn, 20);
  EXPECT_FALSE(clamp_tcp_mss(not_syn, 100));

  auto udp = ipv4_syn();
  udp[9] = 17;
  EXPECT_FALSE(clamp_tcp_mss(udp, 100));

  auto fragment = ipv4_syn();
  fragment[7] = 0x10;  // fragment offset != 0
  EXPECT_FALSE(clamp_tcp_mss(fragment, 100));

  auto v6_fragment = ipv6_syn(false);
  v6_fragment[6] = 44;  // fragment header: not walked
  EXPECT_FALSE(clamp_tcp_mss(v6_fragment, 100));

  auto v6_long_ext = ipv6_syn(true);
  v6_long_ext[41] = 200;  // hop-by-hop length runs past the payload (found by fuzz_gre_frame)
  EXPECT_FALSE(clamp_tcp_mss(v6_long_ext, 100));

  EXPECT_FALSE(clamp_tcp_mss({}, 100));
  std::vector<std::uint8_t> garbage(60, 0x00);
  EXPECT_FALSE(clamp_tcp_mss(garbage, 100));
}

TEST(MssClamp, EveryTruncationIsSafe) {
  const auto full = ipv4_syn();
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto p = std::vector<std::uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(clamp_tcp_mss(p, 100)) << n;  // total length field exceeds the bytes
  }
  const auto v6 = ipv6_syn(true);
  for (std::size_t n = 0; n < v6.size(); ++n) {
    auto p = std::vector<std::uint8_t>(v6.begin(), v6.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(clamp_tcp_mss(p, 100)) << n;
  }
}

TEST(MssClamp, MalformedOptions) {
  auto zero_len = ipv4_syn();
  zero_len[41] = 0;  // option length 0 would loop forever
  EXPECT_FALSE(clamp_tcp_mss(zero_len, 100));
  auto overlong = ipv4_syn();
  overlong[41] = 30;
  EXPECT_FALSE(clamp_tcp_mss(overlong, 100));
  auto bad_offset = ipv4_syn();
  bad_offset[32] = 0xF2;  // data offset 60 > segment
  EXPECT_FALSE(clamp_tcp_mss(bad_offset, 100));
}

TEST(ChecksumAdjust, MatchesRecompute) {
  // RFC 1624 section 4 example shape: a word changes, the adjusted checksum equals a full recompute.
  std::vector<std::uint8_t> data = {0x12, 0x34, 0xDD, 0xF2, 0x00, 0x01, 0xFF, 0xFF};
  const std::uint16_t before = static_cast<std::uint16_t>(~fold(sum_words(data)));
  const std::uint16_t old_word = load_be16(&data[2]);
  store_be16(&data[2], 0x5555);
  const std::uint16_t after = static_cast<std::uint16_t>(~fold(sum_words(data)));
  EXPECT_EQ(checksum_adjust(before, old_word, 0x5555), after);
}

}  // namespace
}  // namespace postern::tunnel::data
