// Unit tests of smtp::ClientSession (the relay's sans-I/O SMTP client): every
// tests/smtp/core/client_transcripts/*.txt played with the relay's lines fed in batches and one
// byte at a time, plus table tests of the dot-stuffing encoder.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "smtp/core/client_session.hpp"
#include "tests/smtp/core/client_transcript.hpp"

namespace postern::smtp::test {
namespace {

std::vector<std::string> transcript_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(POSTERN_CLIENT_TRANSCRIPT_DIR)) {
    if (entry.path().extension() == ".txt") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_transcript(const std::string& name) {
  std::ifstream in(std::string(POSTERN_CLIENT_TRANSCRIPT_DIR) + "/" + name + ".txt", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ClientTranscript : public ::testing::TestWithParam<std::string> {};

TEST_P(ClientTranscript, Batched) {
  const auto result = play_client_transcript(read_transcript(GetParam()), FeedMode::batched);
  for (const auto& f : result.failures) ADD_FAILURE() << GetParam() << ".txt " << f;
}

TEST_P(ClientTranscript, ByteByByte) {
  const auto result = play_client_transcript(read_transcript(GetParam()), FeedMode::byte_by_byte);
  for (const auto& f : result.failures) ADD_FAILURE() << GetParam() << ".txt " << f;
}

INSTANTIATE_TEST_SUITE_P(Golden, ClientTranscript, ::testing::ValuesIn(transcript_names()),
                         [](const auto& param_info) { return param_info.param; });

TEST(ClientTranscriptCorpus, HasEnoughTranscripts) { EXPECT_GE(transcript_names().size(), 20u); }

TEST(ClientTranscriptPlayer, ReportsMismatch) {
  const auto result = play_client_transcript("S: 220 relay\nC: HELO wrong\n", FeedMode::batched);
  EXPECT_FALSE(result.ok);
}

std::string stuffed(std::string_view content) {
  std::string out;
  encode_dot_stuffed(content, out);
  return out;
}

TEST(DotStuffing, Table) {
  struct Case {
    std::string_view in, out;
  } cases[] = {
      {"", ".\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {"a", "a\r\n.\r\n"},  // the content must end with CRLF
      {".\r\n", "..\r\n.\r\n"},
      {"a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n"},
      {"a\n.\nb", "a\r\n..\r\nb\r\n.\r\n"},  // bare LF: never a line end the relay could misread
      {"a\r.\rb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"x.y\r\n", "x.y\r\n.\r\n"},
      {"\r\n.\r\n", "\r\n..\r\n.\r\n"},
  };
  for (const auto& c : cases) EXPECT_EQ(stuffed(c.in), c.out) << c.in;
}

// A submit while a transaction runs is a caller bug: refused, nothing sent.
TEST(ClientSession, SubmitOnlyWhenReady) {
  ClientConfig config;
  config.helo_name = "h";
  config.tls = ClientTlsPolicy::never;
  ClientSession s(std::move(config), "t");
  OutgoingRecipient r{"a@b.example", "", ""};
  OutgoingMessage m;
  m.recipients = std::span<const OutgoingRecipient>(&r, 1);
  EXPECT_FALSE(s.submit(m));
  s.feed("220 relay\r\n250 relay\r\n");
  EXPECT_EQ(s.take_output(), "EHLO h\r\n");
  ASSERT_TRUE(s.ready());
  EXPECT_TRUE(s.submit(m));
  EXPECT_FALSE(s.submit(m));
  EXPECT_EQ(s.take_output(), "MAIL FROM:<>\r\n");
}

}  // namespace
}  // namespace postern::smtp::test
