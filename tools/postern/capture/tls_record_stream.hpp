// TLS record framing (RFC 8446 5.1: type(1) version(2) length(2) fragment) over one direction
// of a TCP connection, for `postern capture`. TcpStream puts segments back into byte order
// (minimally: in-order data and retransmissions; a hole makes the record parser resynchronise at
// the next segment start), and TlsRecordParser reports each record header it completes, with the
// handshake message type of plaintext handshake records (ClientHello 1, ServerHello 2).
// Contract: sans-I/O; any split of the byte stream gives the same records (grind-tested); junk
// puts the parser out of sync until a plausible header starts a segment, it never throws.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace postern::tools::capture {

struct TlsRecord {
  std::uint8_t content_type = 0;  // 20 ccs, 21 alert, 22 handshake, 23 application_data, 24 heartbeat
  std::uint16_t version = 0;
  std::uint16_t length = 0;
  int handshake_type = -1;  // first byte of a handshake record's fragment, -1 if not one
  bool operator==(const TlsRecord&) const = default;
};
std::string_view content_type_name(std::uint8_t content_type);
std::string_view handshake_name(int handshake_type);  // "ClientHello", ... or "handshake"

class TlsRecordParser {
 public:
  // RFC 8446 5.2 allows 2^14 + 256; TLS 1.2 (RFC 5246 6.2.3) 2^14 + 2048.
  static constexpr std::uint16_t kMaxRecordLength = 16384 + 2048;

  // Bytes that follow the previous call in the stream.
  void feed(std::span<const std::uint8_t> bytes, std::vector<TlsRecord>& out);
  // The next bytes do not follow the previous ones (capture loss): drop any partial record and
  // look for a record header at the start of the next feed.
  void lost_sync();
  bool in_sync() const { return in_sync_; }
  std::uint64_t resyncs() const { return resyncs_; }

 private:
  bool header_plausible() const;

  std::uint8_t header_[5] = {};
  std::size_t header_fill_ = 0;
  std::size_t body_left_ = 0;
  bool want_handshake_type_ = false;
  bool encrypted_ = false;
  TlsRecord current_;
  bool in_sync_ = true;
  bool next_feed_resyncs_ = false;
  std::uint64_t resyncs_ = 0;
};

// One direction of a TCP connection: orders payload bytes by sequence number for the parser.
class TcpStream {
 public:
  void segment(std::uint32_t seq, std::uint8_t flags, std::span<const std::uint8_t> payload,
               std::vector<TlsRecord>& out);
  std::uint64_t holes() const { return holes_; }
  std::uint64_t retransmitted_bytes() const { return retransmitted_; }
  const TlsRecordParser& parser() const { return parser_; }

 private:
  TlsRecordParser parser_;
  bool started_ = false;
  std::uint32_t next_seq_ = 0;
  std::uint64_t holes_ = 0;
  std::uint64_t retransmitted_ = 0;
};

}  // namespace postern::tools::capture
