// Unit tests of the `postern capture` analysis: sequence accounting, TLS record framing over TCP
// (with a split-point grind), frame decoding and the analyzer's leak check (no pcap, no sockets).
#include "tools/postern/capture/analyzer.hpp"
#include "tools/postern/capture/report.hpp"
#include "tunnel/data/gre_frame.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace postern::tools::capture {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Byte-wise append: GCC 12 at -O2 reports false -Warray-bounds on vector range inserts.
void append(Bytes& to, const Bytes& from) {
  to.reserve(to.size() + from.size());
  for (std::uint8_t b : from) to.push_back(b);
}

TEST(SequenceTracker, Table) {
  struct Step {
    std::uint32_t seq;
    SeqVerdict verdict;
  };
  const std::vector<Step> steps = {
      {10, SeqVerdict::first},  {11, SeqVerdict::in_order},  {14, SeqVerdict::gap},
      {12, SeqVerdict::reordered}, {12, SeqVerdict::duplicate}, {14, SeqVerdict::duplicate},
      {15, SeqVerdict::in_order},
  };
  SequenceTracker t;
  for (const auto& s : steps) EXPECT_EQ(t.observe(s.seq), s.verdict) << s.seq;
  EXPECT_EQ(t.missing(), 1u);  // 13
  EXPECT_EQ(t.reorders(), 1u);
  EXPECT_EQ(t.duplicates(), 2u);
}

TEST(SequenceTracker, WrapsAround) {
  SequenceTracker t;
  t.observe(0xFFFFFFFEu);
  EXPECT_EQ(t.observe(0xFFFFFFFFu), SeqVerdict::in_order);
  EXPECT_EQ(t.observe(1), SeqVerdict::gap);  // 0 missing
  EXPECT_EQ(t.missing(), 1u);
  EXPECT_EQ(t.observe(0), SeqVerdict::reordered);
  EXPECT_EQ(t.missing(), 0u);
}

Bytes record(std::uint8_t type, std::size_t length, std::uint8_t first = 0) {
  Bytes r = {type, 3, 3, static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)};
  for (std::size_t i = 0; i < length; ++i) r.push_back(i == 0 ? first : 0xAB);
  return r;
}

Bytes tls_stream() {
  Bytes s;
  for (const Bytes& r : {record(22, 40, 1), record(22, 30, 2), record(20, 1, 1), record(23, 100),
                         record(23, 0), record(21, 2)}) {
    append(s, r);
  }
  return s;
}

TEST(TlsRecordParser, RecordsAndHandshakeTypes) {
  TlsRecordParser p;
  std::vector<TlsRecord> out;
  Bytes s = tls_stream();
  p.feed(s, out);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].handshake_type, 1);
  EXPECT_EQ(handshake_name(out[1].handshake_type), "ServerHello");
  EXPECT_EQ(out[3].content_type, 23);
  EXPECT_EQ(out[3].length, 100);
  EXPECT_TRUE(p.in_sync());
}

TEST(TlsRecordParser, GrindEverySplitPoint) {
  Bytes s = tls_stream();
  TlsRecordParser whole_parser;
  std::vector<TlsRecord> whole;
  whole_parser.feed(s, whole);
  for (std::size_t i = 0; i <= s.size(); ++i) {
    for (std::size_t j = i; j <= s.size(); j += 7) {
      TlsRecordParser p;
      std::vector<TlsRecord> out;
      std::span<const std::uint8_t> all(s);
      p.feed(all.subspan(0, i), out);
      p.feed(all.subspan(i, j - i), out);
      p.feed(all.subspan(j), out);
      ASSERT_EQ(out, whole) << "split at " << i << "," << j;
    }
  }
}

TEST(TlsRecordParser, JunkLosesSync) {
  TlsRecordParser p;
  std::vector<TlsRecord> out;
  std::string smtp = "220 mail.example.org ESMTP\r\n";
  p.feed({reinterpret_cast<const std::uint8_t*>(smtp.data()), smtp.size()}, out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(p.in_sync());
  Bytes r = record(23, 5);
  p.feed(r, out);  // next segment starts a record: resynchronised
  EXPECT_EQ(out.size(), 1u);
}

TEST(TcpStream, RetransmissionsAndHoles) {
  Bytes s = tls_stream();
  std::span<const std::uint8_t> all(s);
  TcpStream t;
  std::vector<TlsRecord> out;
  t.segment(1000, kTcpSyn, {}, out);
  t.segment(1001, 0x10, all.subspan(0, 50), out);
  t.segment(1001, 0x10, all.subspan(0, 50), out);   // full retransmission
  t.segment(1041, 0x10, all.subspan(40, 60), out);  // overlapping
  t.segment(1101, 0x10, all.subspan(100), out);
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(t.holes(), 0u);
  EXPECT_EQ(t.retransmitted_bytes(), 60u);
  Bytes next = record(23, 10);
  t.segment(1001 + static_cast<std::uint32_t>(s.size()) + 500, 0x10, next, out);  // hole
  EXPECT_EQ(t.holes(), 1u);
  EXPECT_EQ(out.size(), 7u);
}

// Ethernet + IPv4 + UDP/TCP frame builder.
Bytes frame(std::uint8_t proto, std::uint16_t sport, std::uint16_t dport, const Bytes& payload,
            std::uint32_t tcp_seq = 0) {
  Bytes l4;
  if (proto == 17) {
    std::size_t len = 8 + payload.size();
    l4 = {static_cast<std::uint8_t>(sport >> 8), static_cast<std::uint8_t>(sport),
          static_cast<std::uint8_t>(dport >> 8), static_cast<std::uint8_t>(dport),
          static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len), 0, 0};
  } else {
    l4 = {static_cast<std::uint8_t>(sport >> 8), static_cast<std::uint8_t>(sport),
          static_cast<std::uint8_t>(dport >> 8), static_cast<std::uint8_t>(dport),
          static_cast<std::uint8_t>(tcp_seq >> 24), static_cast<std::uint8_t>(tcp_seq >> 16),
          static_cast<std::uint8_t>(tcp_seq >> 8), static_cast<std::uint8_t>(tcp_seq),
          0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
  }
  append(l4, payload);
  std::size_t total = 20 + l4.size();
  // Ethernet: dst, src, type IPv4; built in one list (GCC 12 -Warray-bounds misfires on inserts).
  Bytes f = {2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 0x08, 0x00, 0x45, 0, static_cast<std::uint8_t>(total >> 8), static_cast<std::uint8_t>(total), 0, 0, 0x40, 0,
              64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  append(f, l4);
  append(f, Bytes(6, 0));  // Ethernet padding must be ignored
  return f;
}

Bytes gre(std::uint32_t session, std::uint32_t epoch, std::uint32_t seq, std::size_t sealed = 40) {
  Bytes d(tunnel::data::kGreHeaderSize + sealed, 0x5A);
  tunnel::data::encode_gre_header(std::span<std::uint8_t, tunnel::data::kGreHeaderSize>(d.data(), 12),
                                  (session << 8) | epoch, seq);
  return d;
}

TEST(PacketDecode, EthernetIpv4Udp) {
  Bytes f = frame(17, 40000, 1723, {1, 2, 3});
  DecodedPacket p = decode_packet(linktype::ethernet, f);
  EXPECT_EQ(p.transport, Transport::udp);
  EXPECT_EQ(p.src(), "10.0.0.1:40000");
  EXPECT_EQ(p.dst(), "10.0.0.2:1723");
  EXPECT_EQ(p.payload.size(), 3u);
  for (std::size_t cut = 0; cut < f.size(); ++cut) {  // truncation never crashes
    decode_packet(linktype::ethernet, std::span<const std::uint8_t>(f).first(cut));
  }
}

// Ethernet + IPv6 (fd00::1 -> fd00::2) + optionally a hop-by-hop header + UDP or an ICMPv6 body.
Bytes frame6(std::uint8_t proto, const Bytes& l4_payload, bool hop_by_hop = false, std::uint16_t sport = 40000,
             std::uint16_t dport = 1723) {
  Bytes l4;
  if (proto == 17) {
    const std::size_t len = 8 + l4_payload.size();
    l4 = {static_cast<std::uint8_t>(sport >> 8), static_cast<std::uint8_t>(sport),
          static_cast<std::uint8_t>(dport >> 8), static_cast<std::uint8_t>(dport),
          static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len), 0, 0};
  }
  append(l4, l4_payload);
  Bytes ext;
  if (hop_by_hop) ext = {proto, 0, 1, 4, 0, 0, 0, 0};  // next header, length 0 (8 bytes), PadN
  const std::size_t payload_len = ext.size() + l4.size();
  Bytes f = {2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 0x86, 0xDD, 0x60, 0, 0, 0,
             static_cast<std::uint8_t>(payload_len >> 8), static_cast<std::uint8_t>(payload_len),
             hop_by_hop ? std::uint8_t{0} : proto, 64};
  Bytes src(16, 0), dst(16, 0);
  src[0] = dst[0] = 0xfd;
  src[15] = 1;
  dst[15] = 2;
  append(f, src);
  append(f, dst);
  append(f, ext);
  append(f, l4);
  return f;
}

TEST(PacketDecode, EthernetIpv6UdpAndIcmpv6) {
  for (bool hop : {false, true}) {
    Bytes f = frame6(17, {1, 2, 3}, hop);
    DecodedPacket p = decode_packet(linktype::ethernet, f);
    EXPECT_EQ(p.transport, Transport::udp);
    EXPECT_EQ(p.ip_version, 6);
    EXPECT_EQ(p.protocol, 17);
    EXPECT_EQ(p.src(), "[fd00::1]:40000");
    EXPECT_EQ(p.dst(), "[fd00::2]:1723");
    EXPECT_EQ(p.payload.size(), 3u);
    for (std::size_t cut = 0; cut < f.size(); ++cut) {
      decode_packet(linktype::ethernet, std::span<const std::uint8_t>(f).first(cut));
    }
  }
  DecodedPacket icmp = decode_packet(linktype::ethernet, frame6(58, {135, 0, 0, 0}));
  EXPECT_EQ(icmp.transport, Transport::other_ip);
  EXPECT_EQ(icmp.ip_version, 6);
  EXPECT_EQ(icmp.protocol, 58);
  DecodedPacket v4 = decode_packet(linktype::ethernet, frame(17, 40000, 1723, {1}));
  EXPECT_EQ(v4.ip_version, 4);
  EXPECT_EQ(v4.protocol, 17);
}

// GRE-in-UDP over IPv6 is a data frame like over IPv4 ("sealed"); the summary and the JSON say
// which family carried what.
TEST(CaptureAnalyzer, DataFramesOverIpv6) {
  CaptureAnalyzer a({1723, {}});
  for (std::uint32_t seq : {1u, 2u, 3u}) {
    PacketReport r = a.consume(0, linktype::ethernet, frame6(17, gre(0x42, 1, seq)));
    EXPECT_EQ(r.kind, PacketKind::data);
    if (seq == 1) {
      EXPECT_NE(json_packet(r).find("\"ip\":6,\"protocol\":17,\"src\":\"[fd00::1]:40000\""), std::string::npos)
          << json_packet(r);
    }
  }
  PacketReport nd = a.consume(0, linktype::ethernet, frame6(58, {135, 0, 0, 0}));
  EXPECT_EQ(nd.kind, PacketKind::other);
  EXPECT_NE(json_packet(nd).find("\"ip\":6,\"protocol\":58,\"src\":\"fd00::1\",\"dst\":\"fd00::2\""),
            std::string::npos)
      << json_packet(nd);
  EXPECT_NE(format_packet_line(nd).find("fd00::1 -> fd00::2 proto=58"), std::string::npos) << format_packet_line(nd);
  a.consume(0, linktype::ethernet, frame(17, 40000, 1723, gre(0x43, 1, 1)));
  CaptureSummary s = a.summary();
  EXPECT_EQ(s.data, 4u);
  EXPECT_EQ(s.data_ipv6, 3u);
  EXPECT_EQ(s.ipv6, 4u);
  EXPECT_EQ(s.ipv4, 1u);
  ASSERT_EQ(s.sessions.size(), 2u);
  EXPECT_EQ(s.sessions[0].src, "[fd00::1]:40000");
  EXPECT_NE(format_summary_text(s).find("outer ip: 1 IPv4, 4 IPv6 (3 data frames over IPv6)"), std::string::npos);
  EXPECT_NE(json_summary(s).find("\"ipv4\":1,\"ipv6\":4,\"data_ipv6\":3"), std::string::npos);
}

TEST(CaptureAnalyzer, SessionsFlowsAndLeaks) {
  CaptureAnalyzer a({1723, {"SECRET-MARKER", "absent"}});
  for (std::uint32_t seq : {1u, 2u, 4u, 3u, 3u, 6u}) a.consume(0, linktype::ethernet, frame(17, 40000, 1723, gre(0x42, 1, seq)));
  a.consume(0, linktype::ethernet, frame(17, 1723, 40000, gre(0x77, 1, 9)));
  Bytes hello = record(22, 40, 1);
  a.consume(0, linktype::ethernet, frame(6, 50000, 1723, hello, 5000));
  Bytes junk = {'x', 'S', 'E', 'C', 'R', 'E', 'T', '-', 'M', 'A', 'R', 'K', 'E', 'R'};
  PacketReport leak = a.consume(0, linktype::ethernet, frame(17, 40000, 1723, junk));
  EXPECT_EQ(leak.kind, PacketKind::bad_data);
  ASSERT_EQ(leak.leaks.size(), 1u);
  CaptureSummary s = a.summary();
  EXPECT_EQ(s.packets, 9u);
  ASSERT_EQ(s.sessions.size(), 2u);
  EXPECT_EQ(s.sessions[0].session, 0x42u);
  EXPECT_EQ(s.sessions[0].packets, 6u);
  EXPECT_EQ(s.sessions[0].gaps, 1u);  // 5
  EXPECT_EQ(s.sessions[0].reorders, 1u);
  EXPECT_EQ(s.sessions[0].duplicates, 1u);
  ASSERT_EQ(s.flows.size(), 1u);
  EXPECT_EQ(s.flows[0].client_hellos, 1u);
  ASSERT_EQ(s.leaks.size(), 1u);
  EXPECT_EQ(s.leaks[0].first_packet, 9u);
  EXPECT_NE(format_leak_verdict(s).find("\"SECRET-MARKER\" found in packet 9"), std::string::npos);
  EXPECT_NE(json_summary(s).find("\"gaps\":1"), std::string::npos);
}

}  // namespace
}  // namespace postern::tools::capture
