#include "common/log.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
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

// The rule EventName enforces at compile time (a literal failing it does not build).
static_assert(is_event_name("session_up"));
static_assert(is_event_name("auth_rejected"));
static_assert(is_event_name("ipv6_pool_exhausted"));
static_assert(is_event_name("x"));
static_assert(!is_event_name(""));
static_assert(!is_event_name("session up"));
static_assert(!is_event_name("SIGHUP: reloading"));
static_assert(!is_event_name("Session_up"));
static_assert(!is_event_name("6to4"));
static_assert(!is_event_name("_hidden"));
static_assert(!is_event_name("trailing_"));
static_assert(!is_event_name("double__underscore"));
static_assert(!is_event_name("tls-failed"));
static_assert(!is_event_name("k=v"));
static_assert(EventName("session_up").text() == "session_up");

TEST(LogEventName, SnakeCaseIdentifiersOnly) {
  EXPECT_TRUE(is_event_name("tun_offload_unavailable"));
  EXPECT_TRUE(is_event_name(std::string(64, 'a')));
  EXPECT_FALSE(is_event_name(std::string(65, 'a')));
  EXPECT_FALSE(is_event_name("tun offload unavailable; one packet per read"));
  EXPECT_FALSE(is_event_name("queue\nfile"));
  EXPECT_FALSE(is_event_name(std::string_view("a\0b", 3)));
  // A run-time choice between literals stays checked: each side is built at compile time.
  const bool held = true;
  EXPECT_EQ(format_line("smtp", "q1", held ? EventName("held") : EventName("released"), {}), "smtp id=q1 held");
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

TEST(LogJournal, SyslogPrioritiesMatchSdDaemon) {
  EXPECT_EQ(syslog_priority(Level::error), 3);    // SD_ERR
  EXPECT_EQ(syslog_priority(Level::warning), 4);  // SD_WARNING
  EXPECT_EQ(syslog_priority(Level::info), 6);     // SD_INFO
  EXPECT_EQ(syslog_priority(Level::debug), 7);    // SD_DEBUG
}

TEST(LogJournal, JournalLinesCarryThePriorityAndNoTimestamp) {
  EXPECT_EQ(format_stderr_line(Level::warning, "smtp id=8f3a x k=v", true, ""), "<4>warn smtp id=8f3a x k=v");
  EXPECT_EQ(format_stderr_line(Level::error, "t y", true, ""), "<3>error t y");
  EXPECT_EQ(format_stderr_line(Level::debug, "t y", true, ""), "<7>debug t y");
  EXPECT_EQ(format_stderr_line(Level::info, "t y", false, "2026-11-27T20:41:07.512Z"),
            "2026-11-27T20:41:07.512Z info t y");
}

// JOURNAL_STREAM must name the very file stderr is open on: a daemon started by systemd whose
// stderr was then redirected (or a child that inherited the variable) must not emit "<6>".
TEST(LogJournal, StreamMustMatchTheFdsDeviceAndInode) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  const int fd = fileno(file);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  const std::string dev = std::to_string(st.st_dev), ino = std::to_string(st.st_ino);
  const std::string other_ino = std::to_string(st.st_ino + 1);
  EXPECT_TRUE(is_journal_stream((dev + ":" + ino).c_str(), fd));
  EXPECT_FALSE(is_journal_stream((dev + ":" + other_ino).c_str(), fd));
  EXPECT_FALSE(is_journal_stream(nullptr, fd));
  EXPECT_FALSE(is_journal_stream("", fd));
  EXPECT_FALSE(is_journal_stream((dev + ":").c_str(), fd));
  EXPECT_FALSE(is_journal_stream((":" + ino).c_str(), fd));
  EXPECT_FALSE(is_journal_stream((dev + ":" + ino + "x").c_str(), fd));
  EXPECT_FALSE(is_journal_stream((dev + ino).c_str(), fd));
  EXPECT_FALSE(is_journal_stream((dev + ":" + ino).c_str(), -1));
  std::fclose(file);
}

}  // namespace
}  // namespace postern::log
