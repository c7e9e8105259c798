// Unit tests of the SMTP reply reader and EHLO parser (moved here from the `postern send` tests
// when the reader became smtp/core's): multiline replies, every split point, junk, limits.
#include "smtp/core/reply_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {
namespace {

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

TEST(ReplyReader, ExtensionsForTheRelay) {
  auto replies = read_all({"250-mx.example\r\n250-SIZE 10240000\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                           "250-ENHANCEDSTATUSCODES\r\n250 AUTH=LOGIN\r\n"});
  ASSERT_EQ(replies.size(), 1u);
  Capabilities caps = parse_ehlo(replies[0]);
  EXPECT_TRUE(caps.size);
  EXPECT_EQ(caps.size_limit, 10240000u);
  EXPECT_TRUE(caps.dsn);
  EXPECT_TRUE(caps.smtputf8);
  EXPECT_TRUE(caps.enhanced_codes);
  EXPECT_TRUE(caps.has_auth("LOGIN"));
  EXPECT_FALSE(caps.pipelining);
  auto bare = read_all({"250-mx\r\n250 SIZE\r\n"});
  Capabilities unlimited = parse_ehlo(bare[0]);
  EXPECT_TRUE(unlimited.size);
  EXPECT_EQ(unlimited.size_limit, 0u);
}

TEST(ReplyReader, EnhancedCodeAndVerbatim) {
  auto replies = read_all({"550-5.1.1 <a@b>: no such user\r\n550 5.1.1 see you\r\n", "250 Ok\r\n",
                           "451 5.0.0 mismatched class\r\n"});
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(enhanced_code_of(replies[0]), "5.1.1");
  EXPECT_EQ(replies[0].verbatim(), "550-5.1.1 <a@b>: no such user 550 5.1.1 see you");
  EXPECT_EQ(enhanced_code_of(replies[1]), "");
  EXPECT_EQ(replies[1].verbatim(), "250 Ok");
  EXPECT_EQ(enhanced_code_of(replies[2]), "");  // the class must match the reply code's
  EXPECT_TRUE(replies[2].transient());
}

}  // namespace
}  // namespace postern::smtp
