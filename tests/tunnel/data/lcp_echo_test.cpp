// LCP Echo encode/decode (RFC 1661 section 5.8): golden bytes, every truncation, padding,
// unsupported codes and length-field errors.
#include "tunnel/data/lcp_echo.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace postern::tunnel::data {
namespace {

TEST(LcpEcho, EncodeGolden) {
  const std::uint8_t data[] = {0xAA, 0xBB};
  std::array<std::uint8_t, 16> out{};
  const auto n = encode_lcp_echo({LcpEchoKind::request, 7, 0x01020304, data}, out);
  ASSERT_EQ(n, 10u);
  const std::uint8_t expected[] = {9, 7, 0, 10, 1, 2, 3, 4, 0xAA, 0xBB};
  EXPECT_TRUE(std::equal(expected, expected + 10, out.begin()));
}

TEST(LcpEcho, RoundTripAndReply) {
  const std::uint8_t data[] = {1, 2, 3};
  std::array<std::uint8_t, 64> out{};
  const auto n = encode_lcp_echo({LcpEchoKind::request, 42, 0xCAFEBABE, data}, out);
  const auto decoded = decode_lcp_echo(std::span(out).first(n));
  ASSERT_TRUE(decoded.ok()) << to_string(decoded.error);
  EXPECT_EQ(decoded.echo.kind, LcpEchoKind::request);
  EXPECT_EQ(decoded.echo.identifier, 42);
  EXPECT_EQ(decoded.echo.magic, 0xCAFEBABEu);
  EXPECT_EQ(decoded.echo.data.size(), 3u);
  const auto reply = make_echo_reply(decoded.echo, 0x11111111);
  EXPECT_EQ(reply.kind, LcpEchoKind::reply);
  EXPECT_EQ(reply.identifier, 42);
  EXPECT_EQ(reply.magic, 0x11111111u);
  std::array<std::uint8_t, 64> reply_bytes{};
  const auto m = encode_lcp_echo(reply, reply_bytes);
  EXPECT_EQ(m, n);
  EXPECT_EQ(reply_bytes[0], kLcpEchoReply);
  EXPECT_EQ(to_string(LcpEchoKind::reply), "echo_reply");
}

TEST(LcpEcho, EveryTruncation) {
  const std::uint8_t data[] = {1, 2, 3, 4};
  std::array<std::uint8_t, 12> out{};
  ASSERT_EQ(encode_lcp_echo({LcpEchoKind::reply, 1, 2, data}, out), 12u);
  for (std::size_t n = 0; n < 12; ++n) {
    const auto r = decode_lcp_echo(std::span(out).first(n));
    EXPECT_EQ(r.error, n < kLcpEchoHeaderSize ? LcpError::too_short : LcpError::bad_length) << n;
  }
}

TEST(LcpEcho, PaddingIgnoredAndBadLength) {
  std::vector<std::uint8_t> p = {10, 1, 0, 8, 0, 0, 0, 5, 0xEE, 0xEE};  // 2 bytes of padding
  auto r = decode_lcp_echo(p);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.echo.data.empty());
  p[3] = 7;  // length below the header
  EXPECT_EQ(decode_lcp_echo(p).error, LcpError::bad_length);
}

TEST(LcpEcho, OtherCodesUnsupported) {
  for (int code = 0; code < 256; ++code) {
    std::vector<std::uint8_t> p = {static_cast<std::uint8_t>(code), 1, 0, 8, 0, 0, 0, 0};
    const bool echo = code == 9 || code == 10;
    EXPECT_EQ(decode_lcp_echo(p).error, echo ? LcpError::ok : LcpError::unsupported_code) << code;
  }
}

TEST(LcpEcho, EncodeRefusesSmallBuffer) {
  std::array<std::uint8_t, 7> small{};
  EXPECT_EQ(encode_lcp_echo({}, small), 0u);
}

}  // namespace
}  // namespace postern::tunnel::data
