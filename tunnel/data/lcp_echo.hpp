// LCP Echo-Request / Echo-Reply (RFC 1661 section 5.8), the only LCP packets on the data channel:
// a keepalive and path check through the sealed tunnel. Layout of the PPP payload:
//   code (1: 9 request, 10 reply) | identifier (1) | length (2, BE, whole packet) |
//   magic number (4) | data (length - 8)
// Contract: pure encode/decode over caller buffers; octets beyond `length` are padding and
// ignored (RFC 1661 section 5); never allocates; the returned data span points into the input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class LcpEchoKind : std::uint8_t { request = kLcpEchoRequest, reply = kLcpEchoReply };
std::string_view to_string(LcpEchoKind kind);

struct LcpEcho {
  LcpEchoKind kind = LcpEchoKind::request;
  std::uint8_t identifier = 0;
  std::uint32_t magic = 0;
  std::span<const std::uint8_t> data;
};

enum class LcpError { ok, too_short, unsupported_code, bad_length };
std::string_view to_string(LcpError error);

struct LcpDecodeResult {
  LcpError error = LcpError::ok;
  LcpEcho echo;  // meaningful only when ok
  bool ok() const { return error == LcpError::ok; }
};

// Writes the packet into `out`; returns its length, or 0 when `out` is too small or the data
// does not fit the 16-bit length field.
std::size_t encode_lcp_echo(const LcpEcho& echo, std::span<std::uint8_t> out);
LcpDecodeResult decode_lcp_echo(std::span<const std::uint8_t> payload);

// The reply to `request`: same identifier and data, our magic number (RFC 1661 section 5.8).
LcpEcho make_echo_reply(const LcpEcho& request, std::uint32_t local_magic);

}  // namespace postern::tunnel::data
