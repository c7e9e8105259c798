#include "common/log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern::log {
namespace {

TEST(LogFormat, PlainValuesAreUnquoted) {
  EXPECT_EQ(format_line("smtp", "8f3a", "connected", {{"peer", "10.0.0.1:25"}, {"n", 3}}),
            "smtp id=8f3a connected peer=10.0.0.1:25 n=3");
}

TEST(LogFormat, ValuesWithSpacesQuotesOrControlBytesAreQuoted) {
  EXPECT_EQ(format_line("smtp", "", "x", {{"reason", "bad thing"}}), "smtp x reason=\"bad thing\"");
  EXPECT_EQ(format_line("smtp", "", "x", {{"v", "a\"b"}}), "smtp x v=\"a\\\"b\"");
  EXPECT_EQ(format_line("smtp", "", "x", {{"v", "a\r\nb"}}), "smtp x v=\"a\\x0d\\x0ab\"");
  EXPECT_EQ(format_line("smtp", "", "x", {{"v", ""}}), "smtp x v=\"\"");
}

TEST(LogSink, EventsBelowMinimumLevelAreDropped) {
  std::vector<std::string> lines;
  auto old = set_sink([&](Level, std::string_view line) { lines.emplace_back(line); });
  set_min_level(Level::info);
  debug("t", "", "hidden");
  info("t", "", "shown");
  set_sink(old);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "t shown");
}

}  // namespace
}  // namespace postern::log
