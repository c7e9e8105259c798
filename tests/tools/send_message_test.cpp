// Unit tests of the `postern send` message builder (no sockets; the reply reader is tested in
// tests/smtp/core/reply_reader_test.cpp).
#include "tools/postern/send/message.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace postern::tools::send {
namespace {

TEST(Base64, Rfc4648TestVectors) {
  // RFC 4648 section 10.
  EXPECT_EQ(base64_encode(std::string_view("")), "");
  EXPECT_EQ(base64_encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(base64_encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(base64_encode(std::string_view("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64_encode(std::string_view("foobar")), "Zm9vYmFy");
}

TEST(Base64, WrapsLines) {
  std::string out = base64_encode(std::string(100, 'x'), 76);
  auto crlf = out.find("\r\n");
  ASSERT_NE(crlf, std::string::npos);
  EXPECT_EQ(crlf, 76u);
  EXPECT_EQ(out.find("\r\n", crlf + 2), std::string::npos);
}

TEST(Message, DotStuffingAndLineEndings) {
  EXPECT_EQ(normalise_line_endings("a\nb\r\nc\rd"), "a\r\nb\r\nc\r\nd\r\n");
  EXPECT_EQ(dot_stuff(".a\r\nb.\r\n.\r\n"), "..a\r\nb.\r\n..\r\n");
}

TEST(Message, DateIsRfc5322) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1795034467));  // 2026-11-18
  EXPECT_EQ(format_date(t), "Wed, 18 Nov 2026 20:41:07 +0000");
}

TEST(Message, NonAsciiSubjectIsEncodedWords) {
  EXPECT_EQ(encode_header_text("hello"), "hello");
  std::string enc = encode_header_text("Gr\xc3\xbc\xc3\x9f" "e");
  EXPECT_EQ(enc, "=?UTF-8?B?R3LDvMOfZQ==?=");
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "\xc3\xa9";  // 80 bytes, must not split a character
  std::string words = encode_header_text(long_text);
  EXPECT_NE(words.find("?=\r\n =?UTF-8?B?"), std::string::npos);
}

TEST(Message, AddressOf) {
  EXPECT_EQ(address_of("Alice <alice@example.org>"), "alice@example.org");
  EXPECT_EQ(address_of("  bob@example.org "), "bob@example.org");
}

MessageSpec spec() {
  MessageSpec s;
  s.from = "Alice <alice@example.org>";
  s.to = {"bob@example.org"};
  s.subject = "hi\r\nBcc: evil@example.org";  // header injection attempt
  s.body = "line\n";
  s.date = std::chrono::system_clock::time_point(std::chrono::seconds(0));
  s.message_id_token = "abc123";
  return s;
}

TEST(Message, HeadersAndNoInjection) {
  BuiltMessage m = build_message(spec());
  EXPECT_NE(m.text.find("Message-ID: <abc123@example.org>\r\n"), std::string::npos);
  EXPECT_NE(m.text.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_EQ(m.text.find("\r\nBcc:"), std::string::npos);
  EXPECT_FALSE(m.needs_8bitmime);
  EXPECT_NE(m.text.find("Content-Transfer-Encoding: 7bit"), std::string::npos);
}

TEST(Message, EightBitBodyFollowsServer) {
  MessageSpec s = spec();
  s.body = "Gr\xc3\xbc\xc3\x9f" "e\n";
  s.server_has_8bitmime = true;
  EXPECT_TRUE(build_message(s).needs_8bitmime);
  s.server_has_8bitmime = false;
  BuiltMessage m = build_message(s);
  EXPECT_FALSE(m.needs_8bitmime);
  EXPECT_NE(m.text.find("Content-Transfer-Encoding: base64"), std::string::npos);
}

TEST(Message, AttachmentIsMultipart) {
  MessageSpec s = spec();
  s.attachments.push_back({"a.pdf", content_type_for("a.pdf"), "%PDF"});
  BuiltMessage m = build_message(s);
  EXPECT_NE(m.text.find("multipart/mixed; boundary=\"=_postern_abc123\""), std::string::npos);
  EXPECT_NE(m.text.find("Content-Type: application/pdf; name=\"a.pdf\""), std::string::npos);
  EXPECT_NE(m.text.find("JVBERg=="), std::string::npos);
  EXPECT_NE(m.text.find("\r\n--=_postern_abc123--\r\n"), std::string::npos);
}

}  // namespace
}  // namespace postern::tools::send
