// GRE header encode/decode: golden bytes, every malformed length, every bad header byte.
#include "tunnel/data/gre_frame.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "tunnel/data/key_export.hpp"

namespace postern::tunnel::data {
namespace {

std::vector<std::uint8_t> valid_frame(std::size_t size = kMinFrameSize) {
  std::vector<std::uint8_t> frame(size, 0xEE);
  encode_gre_header(std::span(frame).first<kGreHeaderSize>(), make_gre_key(0xABCDEF, 0x102), 0x01020304);
  return frame;
}

TEST(GreFrame, EncodeGoldenBytes) {
  std::array<std::uint8_t, kGreHeaderSize> header{};
  encode_gre_header(header, make_gre_key(0xABCDEF, 0x102), 0x01020304);
  const std::array<std::uint8_t, kGreHeaderSize> expected = {0x30, 0x00, 0x88, 0x0B, 0xAB, 0xCD,
                                                             0xEF, 0x02, 0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(header, expected);
}

TEST(GreFrame, DecodeRoundTrip) {
  auto frame = valid_frame(100);
  const auto result = decode_gre_frame(frame);
  ASSERT_TRUE(result.ok()) << to_string(result.error);
  EXPECT_EQ(result.frame.key, 0xABCDEF02u);
  EXPECT_EQ(session_id_of(result.frame.key), 0xABCDEFu);
  EXPECT_EQ(epoch_byte_of(result.frame.key), 0x02);
  EXPECT_EQ(result.frame.sequence, 0x01020304u);
  EXPECT_EQ(result.frame.header.data(), frame.data());
  EXPECT_EQ(result.frame.header.size(), kGreHeaderSize);
  EXPECT_EQ(result.frame.sealed.data(), frame.data() + kGreHeaderSize);
  EXPECT_EQ(result.frame.sealed.size(), 100 - kGreHeaderSize);
}

TEST(GreFrame, EveryShortLengthIsTooShort) {
  const auto frame = valid_frame();
  for (std::size_t n = 0; n < kMinFrameSize; ++n) {
    EXPECT_EQ(decode_gre_frame(std::span(frame).first(n)).error, GreError::too_short) << n;
  }
  EXPECT_TRUE(decode_gre_frame(frame).ok());
}

TEST(GreFrame, TooLong) {
  EXPECT_TRUE(decode_gre_frame(valid_frame(kMaxDatagramSize)).ok());
  EXPECT_EQ(decode_gre_frame(valid_frame(kMaxDatagramSize + 1)).error, GreError::too_long);
}

TEST(GreFrame, EveryOtherFirstByteIsBadFlags) {
  for (int b = 0; b < 256; ++b) {
    auto frame = valid_frame();
    frame[0] = static_cast<std::uint8_t>(b);
    const auto expected = b == kGreFlagsByte ? GreError::ok : GreError::bad_flags;
    EXPECT_EQ(decode_gre_frame(frame).error, expected) << b;
  }
}

TEST(GreFrame, SecondByteFlagsAndVersion) {
  for (int b = 0; b < 256; ++b) {
    auto frame = valid_frame();
    frame[1] = static_cast<std::uint8_t>(b);
    const auto expected = b == 0 ? GreError::ok : (b & 0xF8) ? GreError::bad_flags : GreError::bad_version;
    EXPECT_EQ(decode_gre_frame(frame).error, expected) << b;
  }
}

TEST(GreFrame, ProtocolType) {
  for (std::uint16_t type : {0x0800, 0x86DD, 0x880A, 0x890B, 0x0000, 0xFFFF}) {
    auto frame = valid_frame();
    store_be16(&frame[2], type);
    EXPECT_EQ(decode_gre_frame(frame).error, GreError::bad_protocol_type) << type;
  }
}

TEST(GreFrame, ErrorNames) {
  EXPECT_EQ(to_string(GreError::bad_protocol_type), "bad_protocol_type");
  EXPECT_EQ(to_string(PppProtocol::lcp), "lcp");
  EXPECT_EQ(to_string(Suite::chacha20_poly1305), "chacha20-poly1305");
}

TEST(GreKey, SessionAndEpochBits) {
  EXPECT_EQ(make_gre_key(0x123456, 0x1FF), 0x123456FFu);
  EXPECT_EQ(make_gre_key(0xFF123456, 1), 0x12345601u);  // session id is 24 bits
  EXPECT_EQ(session_id_of(0x12345601), 0x123456u);
  EXPECT_EQ(epoch_byte_of(0x12345601), 1);
}

TEST(KeyExport, ContextLayoutAndSplit) {
  const auto ctx = make_exporter_context(0x01020304, 0xA0B0C0D0, 7);
  const std::array<std::uint8_t, 12> expected = {1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0, 0, 0, 0, 7};
  EXPECT_EQ(ctx, expected);
  EXPECT_EQ(kExporterLabel, "EXPORTER-postern-data-v1");

  std::array<std::uint8_t, kExporterOutputSize> material{};
  for (std::size_t i = 0; i < material.size(); ++i) material[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(client_to_server_key(material)[0], 0);
  EXPECT_EQ(server_to_client_key(material)[0], 32);
  // What the client sends with, the server receives with, and vice versa.
  EXPECT_EQ(send_key(Role::client, material).data(), receive_key(Role::server, material).data());
  EXPECT_EQ(send_key(Role::server, material).data(), receive_key(Role::client, material).data());
  EXPECT_NE(send_key(Role::client, material).data(), send_key(Role::server, material).data());
}

}  // namespace
}  // namespace postern::tunnel::data
