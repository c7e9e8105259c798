// Session::take_reply_counts(): what the adapter feeds postern_smtp_replies_total. A table of
// client inputs and the replies by class they must produce; a multiline reply counts once.
#include "smtp/core/session.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace postern::smtp {
namespace {

using Counts = std::array<std::uint32_t, 4>;  // 2xx, 3xx, 4xx, 5xx

Session make_session() {
  SessionConfig config;
  config.hostname = "mail.example.test";
  config.domains = {"example.test"};
  config.starttls_available = true;
  return Session(config, ClientInfo{"10.77.0.2", 40112, true, "alice"}, "t1", [] { return std::string("Q1"); });
}

TEST(ReplyCounts, ByClassAndTakenOnce) {
  const std::chrono::system_clock::time_point now{};
  struct Case {
    const char* input;
    Counts want;
  } cases[] = {
      {"", {1, 0, 0, 0}},                                  // the 220 greeting alone
      {"EHLO laptop.test\r\n", {2, 0, 0, 0}},              // greeting + one multiline 250
      {"EHLO a\r\nNOOP\r\nBOGUS\r\n", {3, 0, 0, 1}},        // 500 for the unknown verb
      {"EHLO a\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n", {4, 1, 0, 0}},
      {"QUIT\r\n", {2, 0, 0, 0}},                           // 221
  };
  for (const auto& c : cases) {
    Session s = make_session();
    s.start(now);
    const std::string input = c.input;
    if (!input.empty()) s.feed(std::span<const char>(input.data(), input.size()), now);
    EXPECT_EQ(s.take_reply_counts(), c.want) << "input: " << c.input << "\noutput: " << s.take_output();
    EXPECT_EQ(s.take_reply_counts(), (Counts{0, 0, 0, 0})) << "counts are taken, not kept";
  }
}

}  // namespace
}  // namespace postern::smtp
