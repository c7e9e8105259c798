// Tests for the queue file header codec (every line, old files, refusals) and the record file
// codec (every record, old lines, torn tails, the spool cutting a torn tail before appending),
// and the state replayed from the records.
#include "smtp/spool/queue_records.hpp"

#include "smtp/spool/fs.hpp"
#include "smtp/spool/spool.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <fcntl.h>
#include <sys/stat.h>

namespace postern::smtp::spool {
namespace {

using testing::TempDir;
using namespace std::chrono_literals;

MessageEnvelope full_envelope() {
  MessageEnvelope e;
  e.sender = "alice@example.org";
  e.recipients = {"bob@example.org", "carol@elsewhere.example"};
  e.recipient_params = {{"SUCCESS,FAILURE", "rfc822;bob+2Bx@example.org"}, {"NEVER", ""}};
  e.dsn_ret = "HDRS";
  e.dsn_envid = "QQ+2B314";
  e.eight_bit = true;
  e.smtputf8 = true;
  e.queued_at = from_unix_ms(1'764'000'000'123);
  return e;
}

void expect_same_envelope(const MessageEnvelope& a, const MessageEnvelope& b) {
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.recipients, b.recipients);
  ASSERT_EQ(a.recipient_params.size(), b.recipient_params.size());
  for (std::size_t i = 0; i < a.recipient_params.size(); ++i) {
    EXPECT_EQ(a.recipient_params[i].notify, b.recipient_params[i].notify);
    EXPECT_EQ(a.recipient_params[i].orcpt, b.recipient_params[i].orcpt);
  }
  EXPECT_EQ(a.dsn_ret, b.dsn_ret);
  EXPECT_EQ(a.dsn_envid, b.dsn_envid);
  EXPECT_EQ(a.eight_bit, b.eight_bit);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.queued_at, b.queued_at);
}

TEST(QueueFileCodec, EveryLineRoundTrips) {
  const MessageEnvelope e = full_envelope();
  const std::string header = encode_envelope(e);
  EXPECT_EQ(header,
            "postern-spool 1\nsender alice@example.org\nqueued 1764000000123\nbody 8bitmime\n"
            "smtputf8\nret HDRS\nenvid QQ+2B314\nrecipient bob@example.org\n"
            "notify SUCCESS,FAILURE\norcpt rfc822;bob+2Bx@example.org\n"
            "recipient carol@elsewhere.example\nnotify NEVER\n\n");
  QueuedMessage m;
  ASSERT_TRUE(decode_queue_file(header + "body\r\n", m));
  expect_same_envelope(m, e);
  EXPECT_EQ(m.message, "body\r\n");
  EXPECT_EQ(m.params(5).notify, "");  // out of range: no params
}

TEST(QueueFileCodec, OldFileWithoutNewLinesLoadsWithMtime) {
  TempDir dir;
  Spool spool(dir.path(), [] { return 1u; });
  ASSERT_FALSE(spool.open());
  const auto path = dir.path() / "queue" / "00000000000000aa";
  std::ofstream(path) << "postern-spool 1\nsender s@x\nrecipient a@x\nrecipient b@x\n\nhi";
  struct timespec times[2] = {{1'700'000'000, 250'000'000}, {1'700'000'000, 250'000'000}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  QueuedMessage m;
  std::vector<QueueRecord> records;
  ASSERT_FALSE(spool.load("00000000000000aa", m, records));
  EXPECT_EQ(m.queued_at, from_unix_ms(1'700'000'000'250));
  EXPECT_TRUE(m.recipient_params.empty());
  EXPECT_EQ(m.dsn_ret, "");
  EXPECT_FALSE(m.eight_bit);
  EXPECT_EQ(m.message, "hi");
}

TEST(QueueFileCodec, MisplacedOrMalformedNewLinesAreRejected) {
  QueuedMessage m;
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nnotify NEVER\nrecipient a\n\n", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nqueued -5\nrecipient a\n\n", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nqueued 12x\nrecipient a\n\n", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nret SOME\nrecipient a\n\n", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nbody 7bit\nrecipient a\n\n", m));
  // encode_envelope() leaves out empty parameters, so an empty one is not a file it wrote.
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nrecipient a\nnotify \n\n", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nrecipient a\norcpt \n\n", m));
  EXPECT_TRUE(decode_queue_file("postern-spool 1\nsender \nrecipient a\norcpt x\n\n", m));
  ASSERT_EQ(m.recipient_params.size(), 1u);
  EXPECT_EQ(m.recipient_params[0].orcpt, "x");
}

TEST(QueueFileCodec, StoreRefusesBadHeaderValuesAndDedupesKeepingFirstParams) {
  TempDir dir;
  Spool spool(dir.path(), [] { return 1u; });
  ASSERT_FALSE(spool.open());
  const auto invalid = make_error_code(errc::invalid_envelope);
  MessageEnvelope e = full_envelope();
  e.dsn_envid = "a\r\nrecipient evil@x";
  EXPECT_EQ(spool.store_as("A1", e, "m"), invalid);
  e = full_envelope();
  e.recipient_params[1].orcpt = std::string("x\0y", 3);
  EXPECT_EQ(spool.store_as("A1", e, "m"), invalid);
  e = full_envelope();
  e.recipients[1] = "tab\there@x";
  EXPECT_EQ(spool.store_as("A1", e, "m"), invalid);
  e = full_envelope();
  e.recipient_params.pop_back();  // neither empty nor one per recipient
  EXPECT_EQ(spool.store_as("A1", e, "m"), invalid);
  e = full_envelope();
  e.dsn_ret = "full";
  EXPECT_EQ(spool.store_as("A1", e, "m"), invalid);

  e = full_envelope();
  e.recipients.push_back("bob@example.org");
  e.recipient_params.push_back({"NEVER", "rfc822;other"});
  ASSERT_FALSE(spool.store_as("A1", e, "m"));
  QueuedMessage m;
  std::vector<QueueRecord> records;
  ASSERT_FALSE(spool.load("A1", m, records));
  expect_same_envelope(m, full_envelope());
}

TEST(RecordCodec, EveryRecordRoundTrips) {
  QueueRecord failed;
  failed.type = RecordType::failed;
  failed.recipient = "b@x";
  failed.status_code = "5.1.1";
  failed.remote_mta = "mx.site.example";
  failed.remote_reply = "550 5.1.1 <b@x>:\tunknown\r\nuser";
  failed.reason = "refused by the relay";
  failed.at = from_unix_ms(2000);
  const std::vector<QueueRecord> in = {
      QueueRecord::delivered("a@x"),
      QueueRecord::deferred("c@x", "connect to mx: refused"),
      failed,
      QueueRecord::attempt(from_unix_ms(1000), from_unix_ms(61'000)),
      QueueRecord::held(from_unix_ms(3000)),
      QueueRecord::released(from_unix_ms(4000)),
  };
  std::string file;
  for (const auto& r : in) file += encode_record(r);
  EXPECT_EQ(file,
            "delivered a@x\ndeferred c@x\tconnect to mx: refused\n"
            "failed b@x\t5.1.1\tmx.site.example\t550 5.1.1 <b@x>: unknown  user\trefused by the "
            "relay\t2000\nattempt 1000 61000\nheld 3000\nreleased 4000\n");
  auto out = decode_records(file);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].type, in[i].type) << i;
    EXPECT_EQ(out[i].recipient, in[i].recipient) << i;
    EXPECT_EQ(out[i].at, in[i].at) << i;
    EXPECT_EQ(out[i].next, in[i].next) << i;
  }
  EXPECT_EQ(out[2].remote_reply, "550 5.1.1 <b@x>: unknown  user");
  EXPECT_EQ(out[2].status_code, "5.1.1");
  EXPECT_EQ(out[2].remote_mta, "mx.site.example");
  EXPECT_EQ(out[2].reason, "refused by the relay");
}

TEST(RecordCodec, OldLinesTornTailsAndGarbage) {
  auto r = decode_records("delivered a@x\nfailed b@x\nattempt 5 6\nheld 7\ndeferred c@x\tslo");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[1].type, RecordType::failed);
  EXPECT_EQ(r[1].status_code, "");
  EXPECT_TRUE(decode_records("deliverdelivered d@x\n").empty());
  EXPECT_TRUE(decode_records("attempt 5\nattempt x 6\nheld\nheld -1\nfailed b@x\t5.1.1\n"
                             "deferred c@x\nbogus\n\n").empty());
  r = decode_records("deliv\ndelivered d@x\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].recipient, "d@x");
}

TEST(RecordCodec, AppendCutsATornTailAndRefusesBadAddresses) {
  TempDir dir;
  Spool spool(dir.path(), [] { return 1u; });
  ASSERT_FALSE(spool.open());
  MessageEnvelope e;
  e.recipients = {"a@x", "b@x"};
  ASSERT_FALSE(spool.store_as("M1", e, "m"));
  std::ofstream(dir.path() / "queue" / "M1.done") << "delivered a@x\nfailed b@x\t5.1";
  const std::vector<QueueRecord> batch = {QueueRecord::deferred("b@x", "later"),
                                          QueueRecord::attempt(from_unix_ms(1), from_unix_ms(2))};
  ASSERT_FALSE(spool.append_records("M1", batch));
  std::string file;
  ASSERT_FALSE(fs::read_file(dir.path() / "queue" / "M1.done", file));
  EXPECT_EQ(file, "delivered a@x\ndeferred b@x\tlater\nattempt 1 2\n");
  const QueueRecord bad = QueueRecord::delivered("a\tb@x");
  EXPECT_EQ(spool.append_records("M1", std::span(&bad, 1)), make_error_code(errc::invalid_envelope));
  const QueueRecord nl = QueueRecord::deferred("a\nheld 5", "x");
  EXPECT_EQ(spool.append_records("M1", std::span(&nl, 1)), make_error_code(errc::invalid_envelope));
}

TEST(MessageState, ReplaysRecordsOverTheEnvelope) {
  MessageEnvelope e;
  e.recipients = {"a@x", "b@x", "c@x"};
  QueueRecord failed;
  failed.type = RecordType::failed;
  failed.recipient = "c@x";
  failed.reason = "no such user";
  failed.status_code = "5.1.1";
  const std::vector<QueueRecord> records = {
      QueueRecord::deferred("a@x", "first"),
      QueueRecord::deferred("b@x", "down"),
      QueueRecord::attempt(from_unix_ms(10), from_unix_ms(70)),
      QueueRecord::delivered("a@x"),
      QueueRecord::deferred("a@x", "ignored: already delivered"),
      failed,
      QueueRecord::delivered("c@x"),  // ignored: failed is final
      QueueRecord::deferred("zzz@x", "not a recipient"),
      QueueRecord::attempt(from_unix_ms(70), from_unix_ms(190)),
      QueueRecord::held(from_unix_ms(80)),
  };
  MessageState s = build_message_state(e, records);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.last_attempt, from_unix_ms(70));
  EXPECT_EQ(s.next_attempt, from_unix_ms(190));
  EXPECT_TRUE(s.held);
  ASSERT_EQ(s.recipients.size(), 3u);
  EXPECT_EQ(s.recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(s.recipients[0].last_error, "first");
  EXPECT_EQ(s.recipients[1].status, RecipientStatus::pending);
  EXPECT_EQ(s.recipients[1].last_error, "down");
  EXPECT_EQ(s.recipients[2].status, RecipientStatus::failed);
  EXPECT_EQ(s.recipients[2].status_code, "5.1.1");
  EXPECT_FALSE(s.finished());
  const QueueRecord release = QueueRecord::released(from_unix_ms(90));
  std::vector<QueueRecord> more = records;
  more.push_back(release);
  more.push_back(QueueRecord::delivered("b@x"));
  s = build_message_state(e, more);
  EXPECT_FALSE(s.held);
  EXPECT_TRUE(s.finished());
}

}  // namespace
}  // namespace postern::smtp::spool
