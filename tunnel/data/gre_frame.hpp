// GRE header of a data-channel datagram (RFC 8086 GRE-in-UDP, RFC 2890 key and sequence
// fields; layout in wire.hpp). encode writes the 12 header bytes; decode classifies a received
// datagram by header and length only (no crypto) so the hot path can drop junk cheaply.
// Contract: never allocates, never throws; every malformed input is a typed GreError.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class GreError {
  ok,
  too_short,           // shorter than header + PPP field + tag (kMinFrameSize)
  too_long,            // longer than any UDP payload (kMaxDatagramSize)
  bad_flags,           // byte 0 is not 0x30, or reserved flag bits of byte 1 are set
  bad_version,         // GRE version (low 3 bits of byte 1) is not 0
  bad_protocol_type,   // not 0x880B (PPP)
};
std::string_view to_string(GreError error);

struct GreFrame {
  std::uint32_t key = 0;
  std::uint32_t sequence = 0;
  std::span<const std::uint8_t> header;  // the 12 header bytes = the AEAD AAD
  std::span<const std::uint8_t> sealed;  // ciphertext of PPP field + payload, then the tag
};

struct GreDecodeResult {
  GreError error = GreError::ok;
  GreFrame frame;  // meaningful only when error == ok
  bool ok() const { return error == GreError::ok; }
};

void encode_gre_header(std::span<std::uint8_t, kGreHeaderSize> out, std::uint32_t key,
                       std::uint32_t sequence);
GreDecodeResult decode_gre_frame(std::span<const std::uint8_t> datagram);

// Big-endian helpers shared by the data-channel files.
inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace postern::tunnel::data
