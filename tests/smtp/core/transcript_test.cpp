// Plays every tests/smtp/core/transcripts/*.txt against a Session, twice: client lines fed in
// batches (pipelining) and fed one byte at a time (split points), expecting the same replies.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/smtp/core/transcript.hpp"

namespace postern::smtp::test {
namespace {

std::vector<std::string> transcript_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(POSTERN_TRANSCRIPT_DIR)) {
    if (entry.path().extension() == ".txt") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_transcript(const std::string& name) {
  std::ifstream in(std::string(POSTERN_TRANSCRIPT_DIR) + "/" + name + ".txt", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class Transcript : public ::testing::TestWithParam<std::string> {};

TEST_P(Transcript, Batched) {
  const auto result = play_transcript(read_transcript(GetParam()), FeedMode::batched);
  for (const auto& f : result.failures) ADD_FAILURE() << GetParam() << ".txt " << f;
}

TEST_P(Transcript, ByteByByte) {
  const auto result = play_transcript(read_transcript(GetParam()), FeedMode::byte_by_byte);
  for (const auto& f : result.failures) ADD_FAILURE() << GetParam() << ".txt " << f;
}

INSTANTIATE_TEST_SUITE_P(Golden, Transcript, ::testing::ValuesIn(transcript_names()),
                         [](const auto& param_info) { return param_info.param; });

TEST(TranscriptCorpus, HasEnoughTranscripts) { EXPECT_GE(transcript_names().size(), 25u); }

// The player itself must be able to fail: a wrong expectation is reported.
TEST(TranscriptPlayer, ReportsMismatch) {
  const auto result = play_transcript("S: 220 wrong greeting\n", FeedMode::batched);
  EXPECT_FALSE(result.ok);
}

TEST(TranscriptPlayer, ReportsUncheckedReplies) {
  const auto result = play_transcript("S^ 220\nC: NOOP\n", FeedMode::batched);
  EXPECT_FALSE(result.ok);
}

}  // namespace
}  // namespace postern::smtp::test
