// Unit tests of the `postern send` message builder and SMTP reply reader (no sockets).
#include "tools/postern/send/message.hpp"
#include "tools/postern/send/smtp_reply.hpp"

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

std::vector<Reply> read_all(const std::vector<std::string_view>& chunks) {
  ReplyReader r;
  std::vector<Reply> out;
  for (auto c : chunks) {
    r.feed(c);
    while (auto reply = r.next()) out.push_back(*reply);
  }
  EXPECT_FALSE(r.failed()) << r.error();
  return out;
}

constexpr std::string_view kEhlo =
    "250-mail.example.org\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n"
    "354 go\r\n";

TEST(ReplyReader, MultilineAndCapabilities) {
  auto replies = read_all({kEhlo});
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, 250);
  EXPECT_EQ(replies[0].lines.size(), 5u);
  EXPECT_EQ(replies[0].last_line, "250 AUTH PLAIN LOGIN");
  Capabilities caps = parse_ehlo(replies[0]);
  EXPECT_TRUE(caps.starttls);
  EXPECT_TRUE(caps.pipelining);
  EXPECT_TRUE(caps.eightbitmime);
  EXPECT_TRUE(caps.has_auth("plain"));
  EXPECT_FALSE(caps.has_auth("CRAM-MD5"));
  EXPECT_EQ(replies[1].code, 354);
}

TEST(ReplyReader, GrindEverySplitPoint) {
  auto whole = read_all({kEhlo});
  for (std::size_t i = 0; i <= kEhlo.size(); ++i) {
    for (std::size_t j = i; j <= kEhlo.size(); ++j) {
      auto split = read_all({kEhlo.substr(0, i), kEhlo.substr(i, j - i), kEhlo.substr(j)});
      ASSERT_EQ(split.size(), whole.size()) << i << "," << j;
      for (std::size_t k = 0; k < whole.size(); ++k) EXPECT_EQ(split[k].lines, whole[k].lines);
    }
  }
}

TEST(ReplyReader, RejectsJunkAndTls) {
  ReplyReader r;
  r.feed("HTTP/1.1 400 Bad Request\r\n");
  EXPECT_TRUE(r.failed());
  ReplyReader mixed;
  mixed.feed("250-a\r\n550 b\r\n");
  EXPECT_TRUE(mixed.failed());
  ReplyReader longline;
  longline.feed(std::string(ReplyReader::kMaxLine + 1, '2'));
  EXPECT_TRUE(longline.failed());
}

TEST(ReplyReader, QueueId) {
  Reply r;
  r.code = 250;
  r.lines = {"2.0.0 Ok: queued as 4F2A1"};
  EXPECT_EQ(queue_id_of(r), "4F2A1");
  r.lines = {"2.0.0 OK id=1abc"};
  EXPECT_EQ(queue_id_of(r), "OK id=1abc");
}

}  // namespace
}  // namespace postern::tools::send
