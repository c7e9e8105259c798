// TLS record framing over captured TCP; see tls_record_stream.hpp for the contract.
#include "tools/postern/capture/tls_record_stream.hpp"

#include <algorithm>

namespace postern::tools::capture {
namespace {
constexpr std::uint8_t kChangeCipherSpec = 20;
constexpr std::uint8_t kHandshake = 22;
}  // namespace

std::string_view content_type_name(std::uint8_t content_type) {
  switch (content_type) {
    case 20: return "change_cipher_spec";
    case 21: return "alert";
    case 22: return "handshake";
    case 23: return "application_data";
    case 24: return "heartbeat";
    default: return "unknown";
  }
}

std::string_view handshake_name(int handshake_type) {
  // RFC 8446 4: HandshakeType.
  switch (handshake_type) {
    case 1: return "ClientHello";
    case 2: return "ServerHello";
    case 4: return "NewSessionTicket";
    case 8: return "EncryptedExtensions";
    case 11: return "Certificate";
    case 12: return "ServerKeyExchange";
    case 13: return "CertificateRequest";
    case 14: return "ServerHelloDone";
    case 15: return "CertificateVerify";
    case 16: return "ClientKeyExchange";
    case 20: return "Finished";
    default: return "handshake";
  }
}

bool TlsRecordParser::header_plausible() const {
  std::uint8_t type = header_[0];
  auto length = static_cast<std::uint16_t>((header_[3] << 8) | header_[4]);
  // RFC 8446 5.1: legacy_record_version is 0x0301..0x0303 in practice; accept 3.0 to 3.4.
  return type >= 20 && type <= 24 && header_[1] == 3 && header_[2] <= 4 && length <= kMaxRecordLength;
}

void TlsRecordParser::lost_sync() {
  next_feed_resyncs_ = true;
  ++resyncs_;
}

void TlsRecordParser::feed(std::span<const std::uint8_t> bytes, std::vector<TlsRecord>& out) {
  if (next_feed_resyncs_) {
    // Try again from the start of this segment: it may begin a record.
    header_fill_ = 0;
    body_left_ = 0;
    want_handshake_type_ = false;
    next_feed_resyncs_ = false;
    in_sync_ = true;
  }
  std::size_t i = 0;
  while (in_sync_ && i < bytes.size()) {
    if (body_left_ > 0) {
      if (want_handshake_type_) {
        current_.handshake_type = bytes[i];
        want_handshake_type_ = false;
        out.push_back(current_);
      }
      std::size_t take = std::min(body_left_, bytes.size() - i);
      body_left_ -= take;
      i += take;
      continue;
    }
    header_[header_fill_++] = bytes[i++];
    if (header_fill_ < sizeof(header_)) continue;
    header_fill_ = 0;
    if (!header_plausible()) {
      in_sync_ = false;
      next_feed_resyncs_ = true;
      ++resyncs_;
      return;
    }
    current_ = TlsRecord{header_[0], static_cast<std::uint16_t>((header_[1] << 8) | header_[2]),
                         static_cast<std::uint16_t>((header_[3] << 8) | header_[4]), -1};
    body_left_ = current_.length;
    // After ChangeCipherSpec (TLS 1.2) handshake records are encrypted: no type to read.
    if (current_.content_type == kHandshake && body_left_ > 0 && !encrypted_) {
      want_handshake_type_ = true;
    } else {
      out.push_back(current_);
    }
    // TLS 1.2: what follows ChangeCipherSpec is encrypted. TLS 1.3 (RFC 8446 D.4) sends CCS
    // only for middlebox compatibility and its later handshake records are type 23 anyway.
    if (current_.content_type == kChangeCipherSpec) encrypted_ = true;
  }
}

void TcpStream::segment(std::uint32_t seq, std::uint8_t flags, std::span<const std::uint8_t> payload,
                        std::vector<TlsRecord>& out) {
  constexpr std::uint8_t kSyn = 0x02;
  if ((flags & kSyn) != 0) {
    // A (new) connection: the SYN takes one sequence number (RFC 9293 3.4).
    started_ = true;
    next_seq_ = seq + 1;
    parser_ = TlsRecordParser{};
    return;
  }
  if (payload.empty()) return;
  if (!started_) {
    started_ = true;
    next_seq_ = seq;
  }
  auto distance = static_cast<std::int32_t>(seq - next_seq_);
  if (distance > 0) {
    ++holes_;
    parser_.lost_sync();
    next_seq_ = seq;
  } else if (distance < 0) {
    auto overlap = static_cast<std::size_t>(-static_cast<std::int64_t>(distance));
    if (overlap >= payload.size()) {
      retransmitted_ += payload.size();
      return;
    }
    retransmitted_ += overlap;
    payload = payload.subspan(overlap);
  }
  parser_.feed(payload, out);
  next_seq_ += static_cast<std::uint32_t>(payload.size());
}

}  // namespace postern::tools::capture
