// The status socket's lines (tools/postern/status/status_protocol.hpp): every request a client
// encodes decodes to itself, the daemon's reading of odd lines, and the answer's error prefix.
#include "tools/postern/status/status_protocol.hpp"

#include <gtest/gtest.h>

namespace postern::cli::status {
namespace {

using Verb = QueueRequest::Verb;

TEST(StatusProtocol, EveryRequestRoundTrips) {
  const std::vector<std::pair<Request, std::string>> table = {
      {ReportRequest{Format::json}, "json"},
      {ReportRequest{Format::text}, "text"},
      {QueueRequest{Verb::list, "", Format::json}, "queue list json"},
      {QueueRequest{Verb::list, "", Format::text}, "queue list text"},
      {QueueRequest{Verb::show, "A1b2", Format::json}, "queue show A1b2 json"},
      {QueueRequest{Verb::retry, "A1b2", Format::text}, "queue retry A1b2"},
      {QueueRequest{Verb::retry_all, "", Format::text}, "queue retry all"},
      {QueueRequest{Verb::hold, "x", Format::text}, "queue hold x"},
      {QueueRequest{Verb::release, "x", Format::text}, "queue release x"},
      {QueueRequest{Verb::remove, "x", Format::text}, "queue delete x"},
  };
  for (const auto& [request, line] : table) {
    EXPECT_EQ(encode_request(request), line);
    EXPECT_EQ(decode_request(line + "\n"), request) << line;
    EXPECT_EQ(decode_request(line + "\r\n"), request) << line;
    EXPECT_EQ(decode_request(line), request) << line;  // EOF without a newline
  }
}

TEST(StatusProtocol, DaemonReadsOddLines) {
  // Queue requests are words: extra blanks are fine; the report requests are exact.
  EXPECT_EQ(decode_request("  queue \t list   json \n"), Request(QueueRequest{Verb::list, "", Format::json}));
  EXPECT_EQ(decode_request("json\nqueue delete x\n"), Request(ReportRequest{Format::json}));  // one line only
  auto error = [](std::string_view line) {
    const Request r = decode_request(line);
    return std::holds_alternative<BadRequest>(r) ? std::get<BadRequest>(r).error : std::string("(accepted)");
  };
  EXPECT_EQ(error(" json"), "unknown request (expected \"json\" or \"text\")");
  EXPECT_EQ(error(""), "unknown request (expected \"json\" or \"text\")");
  EXPECT_EQ(error("queue"), "queue request without a verb");
  EXPECT_EQ(error("queue list"), "expected \"queue list json|text\" or \"queue show ID json|text\"");
  EXPECT_EQ(error("queue show ../x json"), "expected \"queue list json|text\" or \"queue show ID json|text\"");
  EXPECT_EQ(error("queue hold"), "expected \"queue hold ID\"");
  EXPECT_EQ(error("queue hold a/b"), "\"a/b\" is not a queue id");
  EXPECT_EQ(error("queue hold all"), "(accepted)");  // "all" is an id except for retry
  EXPECT_EQ(error("queue shred x"), "unknown queue verb \"shred\" (list, show, retry, hold, release, delete)");
  EXPECT_EQ(error("queue hold " + std::string(65, 'a')), "\"" + std::string(65, 'a') + "\" is not a queue id");
  EXPECT_EQ(error("queue hold " + std::string(64, 'a')), "(accepted)");
}

TEST(StatusProtocol, AnswerErrorPrefix) {
  EXPECT_EQ(decode_answer("error: no message x in the queue\r\n").error, "no message x in the queue");
  EXPECT_EQ(decode_answer("error: \n").error, "(no reason given)");
  const Answer body = decode_answer("{\"error\": 1}\n");
  EXPECT_FALSE(body.refused());
  EXPECT_EQ(body.body, "{\"error\": 1}\n");
  EXPECT_FALSE(decode_answer("").refused());
}

}  // namespace
}  // namespace postern::cli::status
