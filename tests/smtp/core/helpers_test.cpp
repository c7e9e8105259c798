// Address syntax, ESMTP parameters, SASL helpers and the Received header.
#include <gtest/gtest.h>

#include "smtp/core/address.hpp"
#include "smtp/core/received.hpp"
#include "smtp/core/sasl.hpp"

namespace postern::smtp {
namespace {

TEST(Address, Paths) {
  EXPECT_EQ(parse_path("<a@example.test>", PathKind::reverse).mailbox, "a@example.test");
  EXPECT_EQ(parse_path("<>", PathKind::reverse).error, PathError::none);
  EXPECT_EQ(parse_path("<>", PathKind::forward).error, PathError::syntax);
  EXPECT_EQ(parse_path("<postmaster>", PathKind::forward).error, PathError::none);
  EXPECT_EQ(parse_path("a@example.test", PathKind::reverse).error, PathError::syntax);
  EXPECT_EQ(parse_path("<a@example.test", PathKind::reverse).error, PathError::syntax);
  EXPECT_EQ(parse_path("<\"a>b\"@example.test> SIZE=1", PathKind::reverse).mailbox, "\"a>b\"@example.test");
  EXPECT_EQ(parse_path("<a@example.test> SIZE=1", PathKind::reverse).rest, "SIZE=1");
  EXPECT_EQ(parse_path("<" + std::string(65, 'a') + "@example.test>", PathKind::reverse).error, PathError::syntax);
  EXPECT_EQ(parse_path("<a@" + std::string(300, 'b') + ">", PathKind::reverse).error, PathError::too_long);
  EXPECT_TRUE(parse_path("<a@[192.0.2.1]>", PathKind::reverse).error == PathError::none);
  EXPECT_TRUE(parse_path("<\xC3\xA9@example.test>", PathKind::reverse).non_ascii);
}

TEST(Address, Mailboxes) {
  EXPECT_TRUE(valid_mailbox("first.last+tag@sub.example.test"));
  EXPECT_FALSE(valid_mailbox("first..last@example.test"));
  EXPECT_FALSE(valid_mailbox(".a@example.test"));
  EXPECT_FALSE(valid_mailbox("a@example-.test"));
  EXPECT_FALSE(valid_mailbox("a@example..test"));
  EXPECT_FALSE(valid_mailbox("a b@example.test"));
  EXPECT_TRUE(valid_mailbox("\"a b\"@example.test"));
}

TEST(Address, Utf8) {
  EXPECT_TRUE(valid_utf8("j\xC3\xB6rg"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(valid_utf8("\xE2\x82"));      // truncated
}

TEST(Address, Params) {
  auto p = parse_params("size=10 BODY=8BITMIME SMTPUTF8");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0], (std::pair<std::string, std::string>{"SIZE", "10"}));
  EXPECT_EQ((*p)[2].second, "");
  EXPECT_FALSE(parse_params("SIZE="));
  EXPECT_FALSE(parse_params("-X=1"));
}

TEST(Sasl, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0alice\0secret", 13)}) {
    auto d = decode_base64(encode_base64(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(d->view(), s);
  }
  EXPECT_FALSE(decode_base64("abc"));
  EXPECT_FALSE(decode_base64("ab=c"));
  EXPECT_FALSE(decode_base64("a==="));
  EXPECT_FALSE(decode_base64("ab==cdef"));
  EXPECT_FALSE(decode_base64("ab!d"));
}

TEST(Sasl, Plain) {
  auto creds = parse_plain(SecretBytes(std::string_view("\0alice\0secret", 13)));
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->authcid, "alice");
  EXPECT_EQ(creds->password.view(), "secret");
  EXPECT_FALSE(parse_plain(SecretBytes(std::string_view("\0alice\0", 7))));
  EXPECT_FALSE(parse_plain(SecretBytes(std::string_view("alice\0secret", 12))));
  EXPECT_FALSE(parse_plain(SecretBytes(std::string_view("\0a\0b\0c", 6))));
}

TEST(Received, DateAndFolding) {
  using namespace std::chrono;
  const auto t = sys_days{year{2026} / November / 27} + hours{20} + minutes{41} + seconds{7};
  EXPECT_EQ(format_rfc5322_date(t), "Fri, 27 Nov 2026 20:41:07 +0000");
  ReceivedInfo info{"helo(evil)\r\nX-Injected: 1", "2001:db8::1", "mail.example.test", true, true, "TLSv1.3",
                    "TLS_AES_128_GCM_SHA256", "alice", "alice", "Q1", "bob@example.test", t};
  const std::string header = build_received(info);
  EXPECT_EQ(header.find("X-Injected: 1\r\n"), std::string::npos);
  EXPECT_NE(header.find("[IPv6:2001:db8::1]"), std::string::npos);
  EXPECT_NE(header.find("ESMTPSA"), std::string::npos);
  std::size_t start = 0;
  while (start < header.size()) {
    const std::size_t end = header.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u) << header.substr(start, end - start);
    EXPECT_TRUE(start == 0 || header[start] == '\t');
    start = end + 2;
  }
}

}  // namespace
}  // namespace postern::smtp
