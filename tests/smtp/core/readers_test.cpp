// Line and DATA readers: table cases plus split-point ("grind") tests: every input is fed split
// at every byte position (and byte by byte) and must give exactly the same result.
#include <gtest/gtest.h>

#include "smtp/core/data_reader.hpp"
#include "smtp/core/line_reader.hpp"

namespace postern::smtp {
namespace {

struct LineOutcome {
  std::vector<std::pair<LineStatus, std::string>> lines;
  std::size_t consumed = 0;  // bytes consumed in total (a partial line counts)
  bool operator==(const LineOutcome&) const = default;
};

LineOutcome read_lines(std::string_view input, const std::vector<std::size_t>& cuts, std::size_t max = 512) {
  LineReader reader(max);
  LineOutcome out;
  std::size_t start = 0;
  auto feed = [&](std::string_view piece) {
    while (!piece.empty()) {
      auto r = reader.put(piece);
      out.consumed += r.consumed;
      piece.remove_prefix(r.consumed);
      if (r.line) out.lines.emplace_back(r.line->status, r.line->text);
    }
  };
  for (std::size_t cut : cuts) {
    feed(input.substr(start, cut - start));
    start = cut;
  }
  feed(input.substr(start));
  return out;
}

void grind_lines(std::string_view input, const LineOutcome& expected, std::size_t max = 512) {
  ASSERT_EQ(read_lines(input, {}, max), expected);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(read_lines(input, {i}, max), expected) << "split at " << i;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  EXPECT_EQ(read_lines(input, every, max), expected) << "byte by byte";
}

TEST(LineReader, CompleteLines) {
  grind_lines("EHLO a\r\nNOOP\r\n\r\n", {{{LineStatus::complete, "EHLO a"}, {LineStatus::complete, "NOOP"},
                                          {LineStatus::complete, ""}}, 16});
}

TEST(LineReader, BareLfAndCrAreNotLineEnds) {
  grind_lines("NOOP\nQUIT\r\nA\rB\r\nX\r\r\n", {{{LineStatus::bare_newline, ""}, {LineStatus::bare_newline, ""},
                                                 {LineStatus::bare_newline, ""}}, 20});
}

TEST(LineReader, PartialLineIsKept) {
  grind_lines("NOOP\r\nQUI", {{{LineStatus::complete, "NOOP"}}, 9});
}

TEST(LineReader, TooLongIsDiscardedToCrlf) {
  const std::string ok = std::string(8, 'a') + "\r\n";    // 10 octets: at the limit
  const std::string bad = std::string(9, 'b') + "\r\n";   // 11 octets: over
  grind_lines(bad + ok, {{{LineStatus::too_long, ""}, {LineStatus::complete, std::string(8, 'a')}}, 21}, 10);
}

TEST(LineReader, StopsAfterFirstLine) {
  LineReader reader;
  auto r = reader.put("STARTTLS\r\nMAIL FROM:<x>\r\n");
  EXPECT_EQ(r.consumed, 10u);
  ASSERT_TRUE(r.line);
  EXPECT_EQ(r.line->text, "STARTTLS");
}

struct DataOutcome {
  bool done = false;
  std::size_t consumed = 0;
  std::string content;
  bool bare = false, too_long = false, too_big = false;
  bool operator==(const DataOutcome&) const = default;
};

DataOutcome read_data(std::string_view input, const std::vector<std::size_t>& cuts, std::uint64_t max_size,
                      std::size_t max_line) {
  DataReader reader(Framing::dot, max_size, max_line);
  DataOutcome out;
  std::size_t start = 0;
  auto feed = [&](std::string_view piece) {
    if (out.done) return;
    auto r = reader.put(piece);
    out.consumed += r.consumed;
    out.done = r.done;
    // Streamed: what one put() decoded is handed out at once, and never more than it was given.
    std::string chunk = reader.take_content();
    EXPECT_LE(chunk.size(), piece.size() + 1);  // + a CR held back by the previous put()
    out.content += chunk;
    EXPECT_EQ(reader.take_content(), "");
  };
  for (std::size_t cut : cuts) {
    feed(input.substr(start, cut - start));
    start = cut;
  }
  feed(input.substr(start));
  out.bare = reader.findings().bare_newline;
  out.too_long = reader.findings().line_too_long;
  out.too_big = reader.findings().too_big;
  return out;
}

void grind_data(std::string_view input, const DataOutcome& expected, std::uint64_t max_size = 1000000,
                std::size_t max_line = 1000) {
  ASSERT_EQ(read_data(input, {}, max_size, max_line), expected);
  for (std::size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(read_data(input, {i}, max_size, max_line), expected) << "split at " << i;
    for (std::size_t j = i; j <= input.size(); j += 3) {
      EXPECT_EQ(read_data(input, {i, j}, max_size, max_line), expected) << "split at " << i << "," << j;
    }
  }
}

TEST(DataReader, EndsOnlyAtCrlfDotCrlf) {
  grind_data("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n", {true, 23, "Subject: x\r\n\r\nbody\r\n", false, false, false});
}

TEST(DataReader, ImmediateEnd) { grind_data(".\r\nNOOP", {true, 3, "", false, false, false}); }

TEST(DataReader, DotUnstuffing) {
  grind_data("..a\r\n...\r\n.b\r\n\r\n.\r\n", {true, 19, ".a\r\n..\r\nb\r\n\r\n", false, false, false});
}

// SMTP smuggling variants: none of these ends the data; each is flagged as a bare CR/LF.
TEST(DataReader, SmugglingSequencesAreContent) {
  for (std::string seq : {"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r.\r\n", "\n.\r", ".\n"}) {
    const std::string input = "a" + seq + "MAIL FROM:<x>\r\n";
    const auto out = read_data(input, {}, 1000000, 1000);
    EXPECT_FALSE(out.done) << "sequence ends data";
    EXPECT_TRUE(out.bare);
    EXPECT_EQ(out.consumed, input.size());
    grind_data(input + ".\r\n", read_data(input + ".\r\n", {}, 1000000, 1000));
    EXPECT_TRUE(read_data(input + ".\r\n", {}, 1000000, 1000).done);
  }
}

TEST(DataReader, BareLfKeptAndFlagged) {
  grind_data("a\nb\r\n.\r\n", {true, 8, "a\nb\r\n", true, false, false});
}

TEST(DataReader, LineLimitCountsCrlf) {
  grind_data("12345678\r\n.\r\n", {true, 13, "12345678\r\n", false, false, false}, 1000, 10);
  grind_data("123456789\r\n.\r\n", {true, 14, "123456789\r\n", false, true, false}, 1000, 10);
}

// Exactly the first max_size octets are handed out, whatever the splits; the caller drops them.
TEST(DataReader, TooBigIsReadToTheEndButNotKept) {
  grind_data("0123456789\r\n.\r\nX", {true, 15, "0123456789\r", false, false, true}, 11);
  grind_data("012345678\r\n.\r\nX", {true, 14, "012345678\r\n", false, false, false}, 11);
}

TEST(DataReader, CountedFramingIgnoresDots) {
  DataReader reader(Framing::counted, 1000);
  EXPECT_EQ(reader.put("a\r\n.\r\n").consumed, 6u);
  EXPECT_EQ(reader.take_content(), "a\r\n.\r\n");
  EXPECT_EQ(reader.put("b\r").consumed, 2u);
  EXPECT_EQ(reader.take_content(), "b");  // the CR waits: it may start a CRLF
  reader.finish();
  EXPECT_TRUE(reader.findings().bare_newline);  // the trailing CR was bare
  EXPECT_EQ(reader.take_content(), "\r");
}

}  // namespace
}  // namespace postern::smtp
