// Unit tests for platform/offload.hpp: checksums against a naive RFC 1071 reference, TSO
// segmentation of IPv4/IPv6 super-packets (lengths, ids, sequence numbers, flags, checksums,
// payload), USO segmentation of UDP super-packets, NEEDS_CSUM completion, malformed input, and
// GRO coalescing of TCP and UDP (round trip back to the super-packet, and every reason a
// segment must not be merged).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "platform/offload.hpp"

namespace postern::platform {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint8_t kAck = 0x10, kPsh = 0x08, kFin = 0x01, kCwr = 0x80, kSyn = 0x02;

// Naive reference: big-endian 16-bit words, end-around carry.
std::uint32_t ref_sum(std::span<const std::uint8_t> b, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < b.size(); i += 2) {
    sum += static_cast<std::uint32_t>(b[i] << 8) | (i + 1 < b.size() ? b[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  }
  return sum;
}
std::size_t ip_len(const Bytes& p) { return (p[0] >> 4) == 4 ? (p[0] & 0xf) * 4u : 40u; }
bool ipv4_header_ok(const Bytes& p) { return ref_sum(std::span(p).first(ip_len(p))) == 0xffff; }
// The reference sum over the pseudo-header and the L4 part of packet `p` (IP header at 0).
std::uint32_t ref_l4_sum(const Bytes& p, std::uint8_t protocol) {
  const std::size_t ip = ip_len(p);
  const std::size_t l4 = p.size() - ip;
  Bytes pseudo;
  if ((p[0] >> 4) == 4) {
    pseudo.assign(p.begin() + 12, p.begin() + 20);
  } else {
    pseudo.assign(p.begin() + 8, p.begin() + 40);
  }
  pseudo.insert(pseudo.end(), {0, protocol, static_cast<std::uint8_t>(l4 >> 8), static_cast<std::uint8_t>(l4)});
  return ref_sum(std::span(p).subspan(ip), ref_sum(pseudo));
}
bool tcp_ok(const Bytes& p) { return ref_l4_sum(p, 6) == 0xffff; }
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// A TCP packet with `payload` bytes (pattern), 12 bytes of options (NOP NOP timestamp), valid
// checksums. ipv4_options adds 4 bytes of IPv4 options (NOP x3, EOL).
Bytes make_tcp(bool v6, std::size_t payload, std::uint32_t seq, std::uint8_t flags, bool ipv4_options = false,
               std::uint16_t port = 5201) {
  const std::size_t ip = v6 ? 40 : (ipv4_options ? 24 : 20);
  const std::size_t tcp = 32;
  Bytes p(ip + tcp + payload, 0);
  if (v6) {
    p[0] = 0x60;
    p[4] = static_cast<std::uint8_t>((tcp + payload) >> 8);
    p[5] = static_cast<std::uint8_t>(tcp + payload);
    p[6] = 6;
    p[7] = 64;
    for (int i = 0; i < 16; ++i) p[8 + i] = static_cast<std::uint8_t>(0x20 + i), p[24 + i] = static_cast<std::uint8_t>(0x90 + i);
  } else {
    p[0] = static_cast<std::uint8_t>(0x40 | (ip / 4));
    p[2] = static_cast<std::uint8_t>(p.size() >> 8);
    p[3] = static_cast<std::uint8_t>(p.size());
    p[4] = 0x12, p[5] = 0x34, p[6] = 0x40, p[8] = 64, p[9] = 6;
    p[12] = 10, p[13] = 77, p[14] = 0, p[15] = 2, p[16] = 10, p[17] = 77, p[18] = 0, p[19] = 1;
    if (ipv4_options) p[20] = p[21] = p[22] = 1;
    fix_ipv4_header_checksum(p);
  }
  std::uint8_t* t = p.data() + ip;
  t[0] = static_cast<std::uint8_t>(port >> 8), t[1] = static_cast<std::uint8_t>(port), t[2] = 0x9c, t[3] = 0x40;
  t[4] = static_cast<std::uint8_t>(seq >> 24), t[5] = static_cast<std::uint8_t>(seq >> 16);
  t[6] = static_cast<std::uint8_t>(seq >> 8), t[7] = static_cast<std::uint8_t>(seq);
  t[8] = 0xaa, t[11] = 0x01;  // ack
  t[12] = static_cast<std::uint8_t>((tcp / 4) << 4);
  t[13] = flags;
  t[14] = 0x01, t[15] = 0xf6;  // window
  t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10, t[27] = 7, t[31] = 9;  // NOP NOP TS
  for (std::size_t i = 0; i < payload; ++i) p[ip + tcp + i] = static_cast<std::uint8_t>(i * 7 + (i >> 8));
  EXPECT_TRUE(fix_tcp_checksum(p));
  return p;
}

// A UDP datagram of `payload` bytes (pattern seeded by `seed`), valid checksums.
Bytes make_udp(bool v6, std::size_t payload, std::uint8_t seed = 0, std::uint16_t port = 4433) {
  const std::size_t ip = v6 ? 40 : 20;
  Bytes p(ip + 8 + payload, 0);
  if (v6) {
    p[0] = 0x60;
    p[4] = static_cast<std::uint8_t>((8 + payload) >> 8);
    p[5] = static_cast<std::uint8_t>(8 + payload);
    p[6] = 17;
    p[7] = 64;
    for (int i = 0; i < 16; ++i) p[8 + i] = static_cast<std::uint8_t>(0x20 + i), p[24 + i] = static_cast<std::uint8_t>(0x90 + i);
  } else {
    p[0] = 0x45;
    p[2] = static_cast<std::uint8_t>(p.size() >> 8);
    p[3] = static_cast<std::uint8_t>(p.size());
    p[4] = 0x56, p[5] = static_cast<std::uint8_t>(seed), p[6] = 0x40, p[8] = 64, p[9] = 17;
    p[12] = 10, p[13] = 77, p[14] = 0, p[15] = 2, p[16] = 10, p[17] = 77, p[18] = 0, p[19] = 1;
    fix_ipv4_header_checksum(p);
  }
  std::uint8_t* u = p.data() + ip;
  u[0] = static_cast<std::uint8_t>(port >> 8), u[1] = static_cast<std::uint8_t>(port), u[2] = 0x9c, u[3] = 0x41;
  u[4] = static_cast<std::uint8_t>((8 + payload) >> 8), u[5] = static_cast<std::uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) p[ip + 8 + i] = static_cast<std::uint8_t>(i * 13 + seed);
  // Checksum over pseudo-header + datagram, 0 sent as 0xffff.
  auto sum = static_cast<std::uint16_t>(~ref_l4_sum(p, 17));
  if (sum == 0) sum = 0xffff;
  u[6] = static_cast<std::uint8_t>(sum >> 8), u[7] = static_cast<std::uint8_t>(sum);
  return p;
}
bool udp_ok(const Bytes& p) {
  const std::size_t ip = ip_len(p);
  const std::size_t l4 = p.size() - ip;
  return be16(p.data() + ip + 4) == l4 && be16(p.data() + ip + 6) != 0 && ref_l4_sum(p, 17) == 0xffff;
}

VnetHeader gso_header(bool v6, std::uint16_t mss, std::size_t headers) {
  VnetHeader h;
  h.flags = VnetHeader::kNeedsCsum;
  h.gso_type = v6 ? VnetHeader::kGsoTcpV6 : VnetHeader::kGsoTcpV4;
  h.gso_size = mss;
  h.hdr_len = static_cast<std::uint16_t>(headers);
  h.csum_start = static_cast<std::uint16_t>(headers - 32);
  h.csum_offset = 16;
  return h;
}

std::vector<Bytes> segment_all(const VnetHeader& h, const Bytes& super) {
  Offload r = Offload::ok;
  std::size_t n = segment_count(h, super, r);
  EXPECT_EQ(r, Offload::ok);
  std::vector<Bytes> out;
  for (std::size_t i = 0; i < n; ++i) {
    Bytes buf(2048);
    std::size_t len = write_segment(h, super, i, buf, r);
    EXPECT_EQ(r, Offload::ok) << to_string(r);
    buf.resize(len);
    out.push_back(buf);
  }
  return out;
}

TEST(OffloadChecksumTest, MatchesReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  Bytes data(300);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  for (std::size_t start = 0; start < 4; ++start) {
    for (std::size_t len = 0; len + start <= data.size(); ++len) {
      auto part = std::span(data).subspan(start, len);
      std::uint16_t ours = checksum_fold(checksum_partial(part));
      std::uint8_t bytes[2];
      std::memcpy(bytes, &ours, 2);  // memory order
      std::uint32_t ref = ref_sum(part);
      ASSERT_EQ(be16(bytes), ref) << start << " " << len;
    }
  }
}

TEST(OffloadChecksumTest, FixTcpChecksumVerifies) {
  for (bool v6 : {false, true}) {
    Bytes p = make_tcp(v6, 101, 1, kAck);
    EXPECT_TRUE(tcp_ok(p));
    p[p.size() - 1] ^= 1;
    EXPECT_FALSE(tcp_ok(p));
  }
  Bytes v4opt = make_tcp(false, 10, 1, kAck, true);
  EXPECT_TRUE(ipv4_header_ok(v4opt));
  EXPECT_TRUE(tcp_ok(v4opt));
}

TEST(OffloadHeaderTest, EncodeDecodeRoundTrip) {
  VnetHeader h = gso_header(true, 1348, 72);
  std::array<std::uint8_t, VnetHeader::kSize> raw{};
  h.encode(raw);
  VnetHeader back = VnetHeader::decode(raw);
  EXPECT_EQ(back.flags, h.flags);
  EXPECT_EQ(back.gso_type, h.gso_type);
  EXPECT_EQ(back.hdr_len, 72);
  EXPECT_EQ(back.gso_size, 1348);
  EXPECT_EQ(back.csum_start, 40);
  EXPECT_EQ(back.csum_offset, 16);
}

class SegmentTest : public ::testing::TestWithParam<bool> {};

TEST_P(SegmentTest, SuperPacketBecomesValidSegments) {
  const bool v6 = GetParam();
  for (bool ipv4_options : {false, true}) {
    if (v6 && ipv4_options) continue;
    const std::uint32_t seq = 0xfffff000;  // wraps within the packet
    Bytes super = make_tcp(v6, 5000, seq, kAck | kPsh | kFin | kCwr, ipv4_options);
    const std::size_t headers = super.size() - 5000;
    VnetHeader h = gso_header(v6, 1200, headers);
    auto segments = segment_all(h, super);
    ASSERT_EQ(segments.size(), 5U);
    Bytes joined;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const Bytes& s = segments[i];
      const std::size_t payload = i < 4 ? 1200 : 200;
      ASSERT_EQ(s.size(), headers + payload);
      if (v6) {
        EXPECT_EQ(be16(s.data() + 4), s.size() - 40);
      } else {
        EXPECT_EQ(be16(s.data() + 2), s.size());
        EXPECT_EQ(be16(s.data() + 4), 0x1234 + i);
        EXPECT_TRUE(ipv4_header_ok(s)) << i;
      }
      const std::uint8_t* t = s.data() + ip_len(s);
      EXPECT_EQ(be32(t + 4), static_cast<std::uint32_t>(seq + i * 1200));
      const bool last = i + 1 == segments.size();
      EXPECT_EQ((t[13] & (kPsh | kFin)) != 0, last) << i;
      EXPECT_EQ((t[13] & kCwr) != 0, i == 0) << i;
      EXPECT_TRUE(t[13] & kAck);
      EXPECT_TRUE(tcp_ok(s)) << "segment " << i;
      const long keep_from = v6 ? 6 : 12, keep_to = v6 ? 40 : 20;  // addresses (+ next header, hops)
      EXPECT_TRUE(std::equal(s.begin() + keep_from, s.begin() + keep_to, super.begin() + keep_from));
      EXPECT_TRUE(std::equal(s.begin() + static_cast<long>(ip_len(s)) + 20, s.begin() + static_cast<long>(headers),
                             super.begin() + static_cast<long>(ip_len(s)) + 20));  // TCP options
      joined.insert(joined.end(), s.begin() + static_cast<long>(headers), s.end());
    }
    EXPECT_TRUE(std::equal(joined.begin(), joined.end(), super.begin() + static_cast<long>(headers)));
  }
}

TEST_P(SegmentTest, ExactMultipleAndSingleSegment) {
  const bool v6 = GetParam();
  Bytes super = make_tcp(v6, 2400, 1, kAck);
  auto segments = segment_all(gso_header(v6, 1200, super.size() - 2400), super);
  ASSERT_EQ(segments.size(), 2U);
  EXPECT_EQ(segments[1].size(), super.size() - 1200);
  Bytes small = make_tcp(v6, 100, 1, kAck | kPsh);
  segments = segment_all(gso_header(v6, 1200, small.size() - 100), small);
  ASSERT_EQ(segments.size(), 1U);
  EXPECT_EQ(segments[0], small);
}

INSTANTIATE_TEST_SUITE_P(Ip, SegmentTest, ::testing::Values(false, true),
                         [](const auto& param_info) { return param_info.param ? "v6" : "v4"; });

TEST(OffloadSegmentTest, NeedsCsumCompletesPartialChecksum) {
  for (bool v6 : {false, true}) {
    Bytes p = make_tcp(v6, 333, 5, kAck);
    const std::size_t ip = ip_len(p);
    // What the kernel hands over for CHECKSUM_PARTIAL: the pseudo-header sum in the field.
    std::uint16_t pseudo = checksum_fold(pseudo_header_sum(p, 6, p.size() - ip));
    std::memcpy(p.data() + ip + 16, &pseudo, 2);
    EXPECT_FALSE(tcp_ok(p));
    VnetHeader h;
    h.flags = VnetHeader::kNeedsCsum;
    h.csum_start = static_cast<std::uint16_t>(ip);
    h.csum_offset = 16;
    Bytes out(2048);
    Offload r = Offload::ok;
    std::size_t n = write_segment(h, p, 0, out, r);
    ASSERT_EQ(r, Offload::ok);
    out.resize(n);
    EXPECT_TRUE(tcp_ok(out));
  }
}

TEST(OffloadSegmentTest, MalformedAndUnsupportedAreReported) {
  Bytes v4 = make_tcp(false, 3000, 1, kAck);
  Bytes v6 = make_tcp(true, 3000, 1, kAck);
  Offload r = Offload::ok;
  EXPECT_EQ(segment_count(gso_header(true, 1000, 72), v4, r), 0U);  // TCPv6 type on IPv4
  EXPECT_EQ(r, Offload::malformed);
  EXPECT_EQ(segment_count(gso_header(false, 0, 52), v4, r), 0U);  // gso_size 0
  EXPECT_EQ(r, Offload::malformed);
  VnetHeader ufo = gso_header(false, 1000, 52);
  ufo.gso_type = 3;  // VIRTIO_NET_HDR_GSO_UDP (UFO): fragments, never enabled
  EXPECT_EQ(segment_count(ufo, v4, r), 0U);
  EXPECT_EQ(r, Offload::unsupported);
  VnetHeader uso = gso_header(false, 1000, 28);
  uso.gso_type = VnetHeader::kGsoUdpL4;
  EXPECT_EQ(segment_count(uso, v4, r), 0U);  // UDP_L4 on a TCP packet
  EXPECT_EQ(r, Offload::malformed);
  Bytes udp = make_udp(false, 3000);
  EXPECT_EQ(segment_count(uso, std::span(udp).first(25), r), 0U);  // truncated UDP header
  EXPECT_EQ(r, Offload::malformed);
  uso.gso_size = 0;
  EXPECT_EQ(segment_count(uso, udp, r), 0U);
  EXPECT_EQ(r, Offload::malformed);
  EXPECT_EQ(segment_count(gso_header(true, 1000, 72), std::span(v6).first(50), r), 0U);  // truncated TCP
  EXPECT_EQ(r, Offload::malformed);
  Bytes bad_doff = v4;
  bad_doff[20 + 12] = 0x40;  // data offset 16 bytes < 20
  EXPECT_EQ(segment_count(gso_header(false, 1000, 52), bad_doff, r), 0U);
  EXPECT_EQ(r, Offload::malformed);
  Bytes small(100);
  EXPECT_EQ(write_segment(gso_header(false, 1000, 52), v4, 0, small, r), 0U);
  EXPECT_EQ(r, Offload::buffer_too_small);
  EXPECT_EQ(write_segment(gso_header(false, 1000, 52), v4, 3, small, r), 0U);  // index past the end
  EXPECT_EQ(r, Offload::malformed);
  VnetHeader partial;
  partial.flags = VnetHeader::kNeedsCsum;
  partial.csum_start = static_cast<std::uint16_t>(v4.size());
  Bytes out(4096);
  EXPECT_EQ(write_segment(partial, v4, 0, out, r), 0U);
  EXPECT_EQ(r, Offload::malformed);
  EXPECT_EQ(segment_count(VnetHeader{}, Bytes{}, r), 0U);
}

TEST(OffloadCoalesceTest, SegmentsCoalesceBackIntoTheSuperPacket) {
  for (bool v6 : {false, true}) {
    Bytes super = make_tcp(v6, 6000, 0x7fffff00, kAck | kPsh);
    const std::size_t headers = super.size() - 6000;
    auto segments = segment_all(gso_header(v6, 1300, headers), super);
    ASSERT_EQ(segments.size(), 5U);
    Bytes buffer(GroCoalescer::kMaxSize);
    GroCoalescer gro;
    ASSERT_TRUE(gro.start(buffer, segments[0]));
    for (std::size_t i = 1; i < segments.size(); ++i) ASSERT_TRUE(gro.append(segments[i])) << i;
    EXPECT_EQ(gro.segments(), 5U);
    VnetHeader h;
    auto packet = gro.finish(h);
    EXPECT_FALSE(gro.active());
    EXPECT_EQ(h.gso_type, v6 ? VnetHeader::kGsoTcpV6 : VnetHeader::kGsoTcpV4);
    EXPECT_EQ(h.gso_size, 1300);
    EXPECT_EQ(h.hdr_len, headers);
    EXPECT_EQ(h.flags, VnetHeader::kNeedsCsum);
    Bytes merged(packet.begin(), packet.end());
    ASSERT_EQ(complete_checksum(h, merged), Offload::ok);
    if (!v6) {
      EXPECT_TRUE(ipv4_header_ok(merged));
      merged[4] = super[4], merged[5] = super[5];  // the id is the first segment's
    }
    EXPECT_TRUE(tcp_ok(merged));
    EXPECT_EQ(merged, super);  // PSH came back from the last segment
    // And what the kernel would do with it: segmenting again gives the same segments.
    EXPECT_EQ(segment_all(h, Bytes(packet.begin(), packet.end())).size(), 5U);
  }
}

TEST(OffloadCoalesceTest, RefusesWhatIsNotTheNextSegmentOfTheFlow) {
  Bytes buffer(GroCoalescer::kMaxSize);
  GroCoalescer gro;
  Bytes first = make_tcp(false, 1000, 100, kAck);
  auto started = [&] { return gro.start(buffer, first); };
  ASSERT_TRUE(started());
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 2100, kAck)));              // a gap
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 100, kAck)));               // a retransmission
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 1100, kAck, false, 80)));   // another flow
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 1100, kAck | kFin)));       // FIN
  EXPECT_FALSE(gro.append(make_tcp(false, 1001, 1100, kAck)));              // larger than the first
  EXPECT_FALSE(gro.append(make_tcp(true, 1000, 1100, kAck)));               // IPv6
  Bytes other_ack = make_tcp(false, 1000, 1100, kAck);
  other_ack[20 + 11] = 2;
  fix_tcp_checksum(other_ack);
  EXPECT_FALSE(gro.append(other_ack));
  Bytes other_ts = make_tcp(false, 1000, 1100, kAck);
  other_ts[20 + 27] = 8;
  fix_tcp_checksum(other_ts);
  EXPECT_FALSE(gro.append(other_ts));
  Bytes other_tos = make_tcp(false, 1000, 1100, kAck);
  other_tos[1] = 3;  // ECN CE
  fix_ipv4_header_checksum(other_tos);
  EXPECT_FALSE(gro.append(other_tos));
  EXPECT_EQ(gro.segments(), 1U);
  // A shorter segment is the last one; nothing follows it.
  EXPECT_TRUE(gro.append(make_tcp(false, 500, 1100, kAck)));
  EXPECT_FALSE(gro.append(make_tcp(false, 500, 1600, kAck)));
  VnetHeader h;
  EXPECT_EQ(gro.finish(h).size(), 40U + 12 + 1500);

  // PSH ends a super-packet; a lone segment comes back unchanged with a zero header.
  ASSERT_TRUE(gro.start(buffer, make_tcp(false, 1000, 1, kAck | kPsh)));
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 1001, kAck)));
  auto lone = gro.finish(h);
  EXPECT_EQ(h.gso_type, VnetHeader::kGsoNone);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(Bytes(lone.begin(), lone.end()), make_tcp(false, 1000, 1, kAck | kPsh));

  // Not coalescable at all: SYN, pure ACK, IPv4 options, IP length disagreeing with the bytes.
  EXPECT_FALSE(gro.start(buffer, make_tcp(false, 10, 1, kSyn)));
  EXPECT_FALSE(gro.start(buffer, make_tcp(false, 0, 1, kAck)));
  EXPECT_FALSE(gro.start(buffer, make_tcp(false, 10, 1, kAck, true)));
  Bytes padded = make_tcp(false, 10, 1, kAck);
  padded.push_back(0);
  EXPECT_FALSE(gro.start(buffer, padded));
  Bytes small_buffer(1000);
  EXPECT_FALSE(gro.start(small_buffer, make_tcp(false, 10, 1, kAck)));
  EXPECT_FALSE(gro.active());
}

TEST(OffloadCoalesceTest, StopsAtTheSizeLimit) {
  Bytes buffer(GroCoalescer::kMaxSize);
  GroCoalescer gro;
  std::uint32_t seq = 1;
  ASSERT_TRUE(gro.start(buffer, make_tcp(false, 1400, seq, kAck)));
  std::size_t appended = 1;
  while (gro.append(make_tcp(false, 1400, seq + static_cast<std::uint32_t>(appended * 1400), kAck))) ++appended;
  VnetHeader h;
  auto packet = gro.finish(h);
  EXPECT_LE(packet.size(), GroCoalescer::kMaxSize);
  EXPECT_EQ(appended, (GroCoalescer::kMaxSize - 52) / 1400);
}

TEST(OffloadUdpTest, UdpSuperPacketBecomesValidDatagrams) {
  for (bool v6 : {false, true}) {
    // What a UDP_SEGMENT sender hands the TUN: one datagram of 3 * 1200 + 500 payload bytes,
    // UDP length over the whole, CHECKSUM_PARTIAL.
    Bytes super = make_udp(v6, 4100, 9);
    const std::size_t ip = v6 ? 40 : 20;
    VnetHeader h;
    h.flags = VnetHeader::kNeedsCsum;
    h.gso_type = VnetHeader::kGsoUdpL4;
    h.gso_size = 1200;
    h.hdr_len = static_cast<std::uint16_t>(ip + 8);
    h.csum_start = static_cast<std::uint16_t>(ip);
    h.csum_offset = 6;
    auto segments = segment_all(h, super);
    ASSERT_EQ(segments.size(), 4U);
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const Bytes& d = segments[i];
      const std::size_t payload = i < 3 ? 1200 : 500;
      ASSERT_EQ(d.size(), ip + 8 + payload);
      EXPECT_TRUE(udp_ok(d)) << i;
      if (!v6) {
        EXPECT_TRUE(ipv4_header_ok(d));
        EXPECT_EQ(be16(d.data() + 2), d.size());
        EXPECT_EQ(be16(d.data() + 4), be16(super.data() + 4) + i);  // the id counts up
      } else {
        EXPECT_EQ(be16(d.data() + 4), d.size() - 40);
      }
      EXPECT_TRUE(std::equal(d.begin() + static_cast<long>(ip + 8), d.end(),
                             super.begin() + static_cast<long>(ip + 8 + i * 1200)));
    }
  }
}

TEST(OffloadUdpTest, ChecksumThatFoldsToZeroIsSentAsAllOnes) {
  // A datagram whose last payload word makes the ones' complement sum 0xffff, so its checksum
  // computes to 0: completing it from the pseudo-header must store 0xffff, not 0 (which for UDP
  // means "no checksum").
  Bytes d = make_udp(false, 20);
  d[26] = d[27] = d[46] = d[47] = 0;
  const auto rest = static_cast<std::uint16_t>(~ref_l4_sum(d, 17));
  d[46] = static_cast<std::uint8_t>(rest >> 8), d[47] = static_cast<std::uint8_t>(rest);
  ASSERT_EQ(ref_l4_sum(d, 17), 0xffff);
  VnetHeader h;
  h.flags = VnetHeader::kNeedsCsum;
  h.csum_start = 20;
  h.csum_offset = 6;
  const std::uint16_t partial = checksum_fold(pseudo_header_sum(d, 17, d.size() - 20));
  std::memcpy(d.data() + 26, &partial, 2);
  ASSERT_EQ(complete_checksum(h, d), Offload::ok);
  EXPECT_EQ(be16(d.data() + 26), 0xffff);
  EXPECT_TRUE(udp_ok(d));
}

TEST(OffloadUdpTest, DatagramsCoalesceAndSegmentBackToTheSame) {
  for (bool v6 : {false, true}) {
    std::vector<Bytes> datagrams;
    for (std::uint8_t i = 0; i < 5; ++i) datagrams.push_back(make_udp(v6, 1372, i));
    datagrams.push_back(make_udp(v6, 200, 5));  // a shorter last one
    Bytes buffer(GroCoalescer::kMaxSize);
    GroCoalescer gro(true);
    ASSERT_TRUE(gro.start(buffer, datagrams[0]));
    for (std::size_t i = 1; i < datagrams.size(); ++i) ASSERT_TRUE(gro.append(datagrams[i])) << i;
    EXPECT_FALSE(gro.append(make_udp(v6, 200, 6)));  // nothing after the shorter one
    VnetHeader h;
    auto packet = gro.finish(h);
    const std::size_t ip = v6 ? 40 : 20;
    EXPECT_EQ(h.gso_type, VnetHeader::kGsoUdpL4);
    EXPECT_EQ(h.flags, VnetHeader::kNeedsCsum);
    EXPECT_EQ(h.gso_size, 1372);
    EXPECT_EQ(h.hdr_len, ip + 8);
    EXPECT_EQ(h.csum_start, ip);
    EXPECT_EQ(h.csum_offset, 6);
    EXPECT_EQ(packet.size(), ip + 8 + 5 * 1372 + 200);
    EXPECT_EQ(be16(packet.data() + ip + 4), packet.size() - ip);  // UDP length over the whole
    // As the kernel would segment it: the same datagrams, byte for byte (IPv4 ids count up
    // from the first one's, so they are compared without the id and header checksum).
    auto back = segment_all(h, Bytes(packet.begin(), packet.end()));
    ASSERT_EQ(back.size(), datagrams.size());
    for (std::size_t i = 0; i < back.size(); ++i) {
      Bytes a = back[i], b = datagrams[i];
      if (!v6) {
        EXPECT_TRUE(ipv4_header_ok(a));
        a[4] = b[4], a[5] = b[5], a[10] = b[10], a[11] = b[11];
      }
      EXPECT_EQ(a, b) << i;
    }
  }
}

TEST(OffloadUdpTest, RefusesWhatIsNotTheSameFlowOrNotAllowed) {
  Bytes buffer(GroCoalescer::kMaxSize);
  GroCoalescer tcp_only;
  EXPECT_FALSE(tcp_only.start(buffer, make_udp(false, 1000)));  // UDP GRO needs the TUN's USO
  GroCoalescer gro(true);
  ASSERT_TRUE(gro.start(buffer, make_udp(false, 1000)));
  EXPECT_FALSE(gro.append(make_udp(false, 1000, 1, 53)));   // another port
  EXPECT_FALSE(gro.append(make_udp(false, 1001, 1)));       // larger than the first
  EXPECT_FALSE(gro.append(make_udp(true, 1000, 1)));        // IPv6
  EXPECT_FALSE(gro.append(make_tcp(false, 1000, 1, kAck)));  // TCP
  Bytes other_tos = make_udp(false, 1000, 1);
  other_tos[1] = 0x2e << 2;  // DSCP EF
  fix_ipv4_header_checksum(other_tos);
  EXPECT_FALSE(gro.append(other_tos));
  Bytes other_dst = make_udp(false, 1000, 1);
  other_dst[19] = 9;
  fix_ipv4_header_checksum(other_dst);
  EXPECT_FALSE(gro.append(other_dst));
  EXPECT_EQ(gro.segments(), 1U);
  VnetHeader h;
  auto lone = gro.finish(h);  // one datagram comes back unchanged with a zero header
  EXPECT_EQ(h.gso_type, VnetHeader::kGsoNone);
  EXPECT_EQ(Bytes(lone.begin(), lone.end()), make_udp(false, 1000));

  // Not coalescable: no checksum (IPv4), empty payload, UDP length or IP length disagreeing
  // with the bytes, a fragment.
  Bytes unchecked = make_udp(false, 100);
  unchecked[26] = unchecked[27] = 0;
  EXPECT_FALSE(gro.start(buffer, unchecked));
  EXPECT_FALSE(gro.start(buffer, make_udp(false, 0)));
  Bytes short_udp_len = make_udp(false, 100);
  short_udp_len[25] = 50;
  EXPECT_FALSE(gro.start(buffer, short_udp_len));
  Bytes padded = make_udp(false, 100);
  padded.push_back(0);
  EXPECT_FALSE(gro.start(buffer, padded));
  Bytes fragment = make_udp(false, 100);
  fragment[6] = 0x20;  // MF
  fix_ipv4_header_checksum(fragment);
  EXPECT_FALSE(gro.start(buffer, fragment));
  EXPECT_FALSE(gro.active());

  // The segment limit holds for UDP as for TCP.
  ASSERT_TRUE(gro.start(buffer, make_udp(false, 100)));
  std::size_t appended = 1;
  while (gro.append(make_udp(false, 100, static_cast<std::uint8_t>(appended)))) ++appended;
  EXPECT_EQ(appended, GroCoalescer::kMaxSegments);
}

}  // namespace
}  // namespace postern::platform
