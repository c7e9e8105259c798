// `postern queue` renderings: the mailq-style text, the JSON schema, one message in long form,
// and the snapshot -> listing conversion (ages and "next attempt" from an injected now).
#include "tools/postern/queue/queue_collect.hpp"
#include "tools/postern/queue/queue_report.hpp"

#include <gtest/gtest.h>

namespace postern::cli::queue {
namespace {

using namespace std::chrono;

smtp::spool::MessageSnapshot snapshot(system_clock::time_point queued) {
  smtp::spool::MessageSnapshot m;
  m.id = "4f2a1c0d9e8b7a65";
  m.sender = "alice@example.org";
  m.queued_at = queued;
  m.size = 2281;
  m.attempts = 2;
  m.next_attempt = queued + seconds(300);
  smtp::spool::RecipientState pending;
  pending.address = "partner@elsewhere.example";
  pending.last_error = "relay mx1: 451 4.3.0 try later";
  smtp::spool::RecipientState done;
  done.address = "bob@example.org";
  done.status = smtp::spool::RecipientStatus::delivered;
  m.recipients = {pending, done};
  return m;
}

TEST(QueueReport, ListingFromSnapshots) {
  const auto queued = system_clock::time_point(seconds(1'764'700'000));
  const QueueListing l = make_listing({snapshot(queued)}, "daemon", queued + seconds(184));
  ASSERT_EQ(l.messages.size(), 1u);
  const MessageEntry& m = l.messages[0];
  EXPECT_DOUBLE_EQ(m.age_seconds, 184);
  ASSERT_TRUE(m.next_attempt_in_seconds);
  EXPECT_DOUBLE_EQ(*m.next_attempt_in_seconds, 116);
  EXPECT_EQ(m.recipients[0].state, "pending");
  EXPECT_EQ(m.recipients[1].state, "delivered");
  // A next attempt in the past is "due now"; a held message has none.
  EXPECT_FALSE(make_listing({snapshot(queued)}, "daemon", queued + seconds(400)).messages[0].next_attempt_in_seconds);
  auto held = snapshot(queued);
  held.held = true;
  EXPECT_FALSE(make_listing({held}, "spool", queued).messages[0].next_attempt_in_seconds);
}

TEST(QueueReport, TextLooksLikeMailq) {
  const auto queued = system_clock::time_point(seconds(1'764'700'000));
  QueueListing l = make_listing({snapshot(queued)}, "daemon", queued + seconds(184));
  const std::string text = format_text(l);
  EXPECT_NE(text.find("4f2a1c0d9e8b7a65"), std::string::npos) << text;
  EXPECT_NE(text.find("3m04s"), std::string::npos) << text;
  EXPECT_NE(text.find("partner@elsewhere.example [pending]"), std::string::npos) << text;
  EXPECT_NE(text.find("(relay mx1: 451 4.3.0 try later)"), std::string::npos) << text;
  EXPECT_NE(text.find("attempts 2, next attempt in 1m56s"), std::string::npos) << text;
  EXPECT_NE(text.find("1 message, 1 recipient pending (from the running server"), std::string::npos) << text;
  l.messages[0].held = true;
  EXPECT_NE(format_text(l).find("4f2a1c0d9e8b7a65!"), std::string::npos);
  EXPECT_EQ(format_text(QueueListing{"spool", {}}), "Mail queue is empty\n");
}

TEST(QueueReport, JsonSchema) {
  const auto queued = system_clock::time_point(seconds(1'764'700'000));
  auto m = snapshot(queued);
  m.sender = "";  // a bounce
  m.recipients[0].last_error = "say \"hi\"\n";
  const std::string json = format_json(make_listing({m}, "spool", queued + seconds(10)));
  EXPECT_EQ(json.rfind("{\"schema\": 1, \"source\": \"spool\", \"messages\": [{\"id\": \"4f2a1c0d9e8b7a65\", "
                       "\"sender\": \"\", \"age_seconds\": 10.000, \"size\": 2281, \"attempts\": 2, "
                       "\"next_attempt_in_seconds\": 290.000, \"held\": false, ",
                       0),
            0u)
      << json;
  EXPECT_NE(json.find("\"last_error\": \"say \\\"hi\\\"\\n\""), std::string::npos) << json;
  EXPECT_EQ(json.back(), '\n');
}

TEST(QueueReport, ShowOneMessage) {
  const auto queued = system_clock::time_point(seconds(1'764'700'000));
  const QueueListing l = make_listing({snapshot(queued)}, "daemon", queued);
  auto text = format_message(l, "4f2a1c0d9e8b7a65");
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("recipient: partner@elsewhere.example [pending]\n           last error: relay mx1"), std::string::npos)
      << *text;
  EXPECT_FALSE(format_message(l, "0000000000000000"));
}

}  // namespace
}  // namespace postern::cli::queue
