// Fuzzes the `postern capture` decoders (tools/postern/capture/): decode_packet() on hostile
// frames of every supported link type, the decoded TCP payloads through TcpStream, and the
// TlsRecordParser on the raw input. Input layout: byte 0 picks the link type, then frames as
// [length byte][frame bytes]... . Invariants: the decoded payload lies inside its frame; the
// record parser gives the same records fed whole or one byte at a time while it stays in sync
// (its grind contract; after junk, resync points legitimately depend on segment boundaries).
#include "tools/postern/capture/packet_decode.hpp"
#include "tools/postern/capture/tls_record_stream.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

using namespace postern::tools::capture;

namespace {

constexpr std::array<int, 11> kLinkTypes = {
    linktype::null_bsd, linktype::ethernet, linktype::raw_dlt,   linktype::raw_dlt_bsd,
    linktype::raw,      linktype::loop,     linktype::linux_sll, linktype::ipv4,
    linktype::ipv6,     linktype::linux_sll2, 9999};

void check_record_grind(std::span<const std::uint8_t> bytes) {
  TlsRecordParser whole;
  std::vector<TlsRecord> whole_records;
  whole.feed(bytes, whole_records);
  if (whole.resyncs() != 0) return;
  TlsRecordParser split;
  std::vector<TlsRecord> split_records;
  for (std::size_t i = 0; i < bytes.size(); ++i) split.feed(bytes.subspan(i, 1), split_records);
  if (split_records != whole_records || split.resyncs() != 0) std::abort();
}

void decode_frames(int link_type, std::span<const std::uint8_t> rest) {
  TcpStream streams[2];
  std::vector<TlsRecord> records;
  while (!rest.empty()) {
    const std::size_t length = std::min<std::size_t>(rest[0], rest.size() - 1);
    const auto frame = rest.subspan(1, length);
    rest = rest.subspan(1 + length);
    const DecodedPacket packet = decode_packet(link_type, frame);
    if (!packet.payload.empty() &&
        (packet.payload.data() < frame.data() ||
         packet.payload.data() + packet.payload.size() > frame.data() + frame.size())) {
      std::abort();
    }
    (void)packet.src();
    (void)packet.dst();
    if (packet.transport == Transport::tcp) {
      streams[packet.src_port & 1].segment(packet.tcp_seq, packet.tcp_flags, packet.payload, records);
    }
  }
  for (const TlsRecord& r : records) {
    (void)content_type_name(r.content_type);
    (void)handshake_name(r.handshake_type);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  check_record_grind(bytes);
  if (size == 0) return 0;
  decode_frames(kLinkTypes[data[0] % kLinkTypes.size()], bytes.subspan(1));
  return 0;
}
