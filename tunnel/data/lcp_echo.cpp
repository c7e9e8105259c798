// LCP Echo encode/decode (see lcp_echo.hpp).
#include "tunnel/data/lcp_echo.hpp"

#include <algorithm>

#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {

std::string_view to_string(LcpEchoKind kind) {
  return kind == LcpEchoKind::request ? "echo_request" : "echo_reply";
}

std::string_view to_string(LcpError error) {
  switch (error) {
    case LcpError::ok: return "ok";
    case LcpError::too_short: return "too_short";
    case LcpError::unsupported_code: return "unsupported_code";
    case LcpError::bad_length: return "bad_length";
  }
  return "unknown";
}

std::size_t encode_lcp_echo(const LcpEcho& echo, std::span<std::uint8_t> out) {
  const std::size_t length = kLcpEchoHeaderSize + echo.data.size();
  if (length > 0xFFFF || out.size() < length) return 0;
  out[0] = static_cast<std::uint8_t>(echo.kind);
  out[1] = echo.identifier;
  store_be16(&out[2], static_cast<std::uint16_t>(length));
  store_be32(&out[4], echo.magic);
  std::copy(echo.data.begin(), echo.data.end(), out.begin() + kLcpEchoHeaderSize);
  return length;
}

LcpDecodeResult decode_lcp_echo(std::span<const std::uint8_t> payload) {
  LcpDecodeResult result;
  if (payload.size() < kLcpEchoHeaderSize) {
    result.error = LcpError::too_short;
    return result;
  }
  if (payload[0] != kLcpEchoRequest && payload[0] != kLcpEchoReply) {
    result.error = LcpError::unsupported_code;
    return result;
  }
  const std::size_t length = load_be16(&payload[2]);
  if (length < kLcpEchoHeaderSize || length > payload.size()) {
    result.error = LcpError::bad_length;
    return result;
  }
  result.echo.kind = static_cast<LcpEchoKind>(payload[0]);
  result.echo.identifier = payload[1];
  result.echo.magic = load_be32(&payload[4]);
  result.echo.data = payload.subspan(kLcpEchoHeaderSize, length - kLcpEchoHeaderSize);
  return result;
}

LcpEcho make_echo_reply(const LcpEcho& request, std::uint32_t local_magic) {
  return LcpEcho{LcpEchoKind::reply, request.identifier, local_magic, request.data};
}

}  // namespace postern::tunnel::data
