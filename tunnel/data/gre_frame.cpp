// GRE header encode/decode (see gre_frame.hpp).
#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {

std::string_view to_string(GreError error) {
  switch (error) {
    case GreError::ok: return "ok";
    case GreError::too_short: return "too_short";
    case GreError::too_long: return "too_long";
    case GreError::bad_flags: return "bad_flags";
    case GreError::bad_version: return "bad_version";
    case GreError::bad_protocol_type: return "bad_protocol_type";
  }
  return "unknown";
}

void encode_gre_header(std::span<std::uint8_t, kGreHeaderSize> out, std::uint32_t key,
                       std::uint32_t sequence) {
  out[0] = kGreFlagsByte;
  out[1] = kGreVersionByte;
  store_be16(&out[2], kGreProtocolPpp);
  store_be32(&out[4], key);
  store_be32(&out[8], sequence);
}

GreDecodeResult decode_gre_frame(std::span<const std::uint8_t> datagram) {
  GreDecodeResult result;
  if (datagram.size() < kMinFrameSize) {
    result.error = GreError::too_short;
    return result;
  }
  if (datagram.size() > kMaxDatagramSize) {
    result.error = GreError::too_long;
    return result;
  }
  // RFC 2890 section 2: C R K S Reserved0(9) Ver(3). We send exactly K|S; a checksum or routing
  // bit would change the header length, so anything else is not ours.
  if (datagram[0] != kGreFlagsByte || (datagram[1] & 0xF8) != 0) {
    result.error = GreError::bad_flags;
    return result;
  }
  if ((datagram[1] & 0x07) != 0) {
    result.error = GreError::bad_version;
    return result;
  }
  if (load_be16(&datagram[2]) != kGreProtocolPpp) {
    result.error = GreError::bad_protocol_type;
    return result;
  }
  result.frame.key = load_be32(&datagram[4]);
  result.frame.sequence = load_be32(&datagram[8]);
  result.frame.header = datagram.first(kGreHeaderSize);
  result.frame.sealed = datagram.subspan(kGreHeaderSize);
  return result;
}

}  // namespace postern::tunnel::data
