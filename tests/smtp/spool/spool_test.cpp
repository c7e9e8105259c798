// Tests for the durable spool: store layout, envelope encoding, done records, recovery listing.
#include "smtp/spool/spool.hpp"

#include "smtp/spool/fs.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

namespace postern::smtp::spool {
namespace {

using testing::TempDir;

Spool::IdGenerator counter_ids(std::uint64_t start = 1) {
  auto next = std::make_shared<std::uint64_t>(start);
  return [next] { return (*next)++; };
}

MessageEnvelope env(std::string sender, std::vector<std::string> rcpts) {
  MessageEnvelope e;
  e.sender = std::move(sender);
  e.recipients = std::move(rcpts);
  return e;
}

std::string slurp(const std::filesystem::path& p) {
  std::string out;
  EXPECT_FALSE(fs::read_file(p, out));
  return out;
}

TEST(Spool, StoreWritesQueueFileAndLeavesTmpEmpty) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids(0xabc));
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"a@example.org", "b@example.org", "a@example.org"};
  StoreResult r = spool.store(env("s@example.net", rcpts), "Subject: x\r\n\r\nbody\r\n");
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.id, "0000000000000abc");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  std::string file = slurp(dir.path() / "queue" / r.id);
  EXPECT_EQ(file,
            "postern-spool 1\nsender s@example.net\nrecipient a@example.org\n"
            "recipient b@example.org\n\nSubject: x\r\n\r\nbody\r\n");

  QueuedMessage m;
  std::vector<QueueRecord> done;
  ASSERT_FALSE(spool.load(r.id, m, done));
  EXPECT_EQ(m.id, r.id);
  EXPECT_EQ(m.sender, "s@example.net");
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"a@example.org", "b@example.org"}));
  EXPECT_EQ(m.message, "Subject: x\r\n\r\nbody\r\n");
  EXPECT_TRUE(done.empty());
}

TEST(Spool, NullSenderAndBinaryBodyRoundTrip) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::string body("x\0y\xff\r\n\n\n", 9);
  std::vector<std::string> rcpts{"r@x"};
  StoreResult r = spool.store(env("", rcpts), body);
  ASSERT_FALSE(r.error);
  QueuedMessage m;
  std::vector<QueueRecord> done;
  ASSERT_FALSE(spool.load(r.id, m, done));
  EXPECT_EQ(m.sender, "");
  EXPECT_EQ(m.message, body);
}

TEST(Spool, RejectsInvalidEnvelopes) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> none;
  EXPECT_EQ(spool.store(env("a@b", none), "x").error, make_error_code(errc::invalid_envelope));
  std::vector<std::string> bad{"a@b\nrecipient evil@x"};
  EXPECT_EQ(spool.store(env("a@b", bad), "x").error, make_error_code(errc::invalid_envelope));
  std::vector<std::string> ok{"a@b"};
  EXPECT_EQ(spool.store(env("a\r@b", ok), "x").error, make_error_code(errc::invalid_envelope));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue"));
}

TEST(Spool, IdCollisionNeverOverwritesAQueuedMessage) {
  TempDir dir;
  int calls = 0;
  Spool spool(dir.path(), [&calls] { return calls++ < 3 ? 7u : 8u; });
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"r@x"};
  StoreResult first = spool.store(env("", rcpts), "first");
  StoreResult second = spool.store(env("", rcpts), "second");
  ASSERT_FALSE(first.error);
  ASSERT_FALSE(second.error);
  EXPECT_NE(first.id, second.id);
  EXPECT_TRUE(slurp(dir.path() / "queue" / first.id).ends_with("first"));
  EXPECT_TRUE(slurp(dir.path() / "queue" / second.id).ends_with("second"));

  Spool stuck(dir.path(), [] { return 7u; });
  ASSERT_FALSE(stuck.open());
  EXPECT_EQ(stuck.store(env("", rcpts), "x").error, make_error_code(errc::id_collision));
}

TEST(Spool, StoreAsUsesTheAnnouncedIdAndRefusesDuplicates) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"r@x"};
  ASSERT_FALSE(spool.store_as("Q7xK2a", env("", rcpts), "first"));
  EXPECT_EQ(spool.store_as("Q7xK2a", env("", rcpts), "second"), make_error_code(errc::id_collision));
  EXPECT_TRUE(slurp(dir.path() / "queue" / "Q7xK2a").ends_with("first"));
  EXPECT_EQ(spool.store_as("../x", env("", rcpts), "m"), make_error_code(errc::invalid_envelope));
  EXPECT_EQ(spool.store_as("", env("", rcpts), "m"), make_error_code(errc::invalid_envelope));
  EXPECT_EQ(spool.store_as("a.done", env("", rcpts), "m"), make_error_code(errc::invalid_envelope));
  std::vector<std::string> ids;
  ASSERT_FALSE(spool.list_queue(ids));
  EXPECT_EQ(ids, std::vector<std::string>{"Q7xK2a"});
}

TEST(Spool, OpenCleansTmpAndListQueueDropsOrphanDoneFiles) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::ofstream(dir.path() / "tmp" / "0000000000000099") << "half written";
  std::ofstream(dir.path() / "queue" / "00000000000000aa.done") << "delivered x\n";
  std::vector<std::string> rcpts{"r@x"};
  StoreResult r = spool.store(env("", rcpts), "m");
  ASSERT_FALSE(r.error);

  Spool reopened(dir.path(), counter_ids(100));
  ASSERT_FALSE(reopened.open());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  std::vector<std::string> ids;
  ASSERT_FALSE(reopened.list_queue(ids));
  EXPECT_EQ(ids, std::vector<std::string>{r.id});
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "queue" / "00000000000000aa.done"));
}

TEST(Spool, DoneRecordsAccumulateAndRemoveDeletesBoth) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"a@x", "b@x"};
  StoreResult r = spool.store(env("", rcpts), "m");
  const QueueRecord first = QueueRecord::delivered("a@x");
  QueueRecord second;
  second.type = RecordType::failed;
  second.recipient = "b@x";
  ASSERT_FALSE(spool.append_records(r.id, std::span(&first, 1)));
  ASSERT_FALSE(spool.append_records(r.id, std::span(&second, 1)));
  QueuedMessage m;
  std::vector<QueueRecord> done;
  ASSERT_FALSE(spool.load(r.id, m, done));
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].recipient, "a@x");
  EXPECT_EQ(done[0].type, RecordType::delivered);
  EXPECT_EQ(done[1].type, RecordType::failed);
  ASSERT_FALSE(spool.remove(r.id));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue"));
}

TEST(SpoolCodec, TornDoneTailIsIgnored) {
  auto records = decode_records("delivered a@x\nfailed b@x\ndelivered c@");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].recipient, "b@x");
  // A torn record glued to the next append is skipped, the later record still counts.
  records = decode_records("deliverdelivered d@x\n");
  EXPECT_TRUE(records.empty());
  records = decode_records("deliv\ndelivered d@x\n");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].recipient, "d@x");
}

TEST(SpoolCodec, MalformedQueueFilesAreRejected) {
  QueuedMessage m;
  EXPECT_FALSE(decode_queue_file("", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 2\nsender \nrecipient a\n\nx", m));
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \n\nx", m));         // no recipient
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nrecipient a\n\nx", m));     // no sender
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nrecipient a\n", m));  // no blank
  EXPECT_FALSE(decode_queue_file("postern-spool 1\nsender \nbogus a\n\nx", m));
  EXPECT_TRUE(decode_queue_file("postern-spool 1\nsender \nrecipient a\n\n", m));
  EXPECT_EQ(m.message, "");
}

TEST(Spool, ConcurrentStoresAllLandWithDistinctIds) {
  TempDir dir;
  std::atomic<std::uint64_t> next{1};
  Spool spool(dir.path(), [&next] { return next++; });
  ASSERT_FALSE(spool.open());
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::set<std::string> ids;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::vector<std::string> rcpts{"r@x"};
        StoreResult r = spool.store(env("", rcpts), "message " + std::to_string(t * 100 + i));
        ASSERT_FALSE(r.error);
        std::lock_guard lock(mutex);
        ids.insert(r.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids.size(), 200u);
  std::vector<std::string> listed;
  ASSERT_FALSE(spool.list_queue(listed));
  EXPECT_EQ(listed.size(), 200u);
}

TEST(Spool, StreamedMessageIsQueuedOnlyAtCommit) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  MessageWriter writer;
  std::vector<std::string> rcpts{"r@x"};
  ASSERT_FALSE(spool.begin("S1", env("s@y", rcpts), writer));
  EXPECT_TRUE(writer.is_open());
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string piece(65536, static_cast<char>('a' + i % 26));
    ASSERT_FALSE(writer.append(piece));
    expected += piece;
  }
  EXPECT_EQ(writer.size(), expected.size());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue"));  // nothing queued before commit
  EXPECT_FALSE(std::filesystem::is_empty(dir.path() / "tmp"));
  ASSERT_FALSE(writer.commit());
  EXPECT_FALSE(writer.is_open());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  QueuedMessage m;
  std::vector<QueueRecord> done;
  ASSERT_FALSE(spool.load("S1", m, done));
  EXPECT_EQ(m.sender, "s@y");
  EXPECT_TRUE(m.message == expected);
  // An id already queued is refused when the transfer begins, not after it.
  MessageWriter again;
  EXPECT_EQ(spool.begin("S1", env("s@y", rcpts), again), make_error_code(errc::id_collision));
  EXPECT_FALSE(again.is_open());
}

TEST(Spool, AbandonedStreamLeavesNoFile) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"r@x"};
  {
    MessageWriter writer;
    ASSERT_FALSE(spool.begin("S1", env("", rcpts), writer));
    ASSERT_FALSE(writer.append("half a message"));
  }  // destroyed: a connection that went away mid-transfer
  MessageWriter writer;
  ASSERT_FALSE(spool.begin("S2", env("", rcpts), writer));
  ASSERT_FALSE(writer.append("refused"));
  writer.discard();  // 552 / 554 / RSET
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue"));
  EXPECT_EQ(writer.commit(), std::make_error_code(std::errc::bad_file_descriptor));
}

// Issue 10 item 6: a queue file whose name was never made durable is not accepted; leaving it
// would give a second copy when the client resends after the 451.
TEST(Spool, FailedDirectorySyncUnlinksTheQueuedFile) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  int syncs = 0;
  spool.set_directory_sync_for_test([&syncs](int) {
    ++syncs;
    return std::make_error_code(std::errc::io_error);
  });
  std::vector<std::string> rcpts{"r@x"};
  EXPECT_EQ(spool.store_as("Q1", env("", rcpts), "m"), std::make_error_code(std::errc::io_error));
  EXPECT_EQ(syncs, 1);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "tmp"));
  spool.set_directory_sync_for_test({});
  EXPECT_FALSE(spool.store_as("Q1", env("", rcpts), "m"));  // the resend is the one copy
  std::vector<std::string> ids;
  ASSERT_FALSE(spool.list_ids(ids));
  EXPECT_EQ(ids, std::vector<std::string>{"Q1"});
}

TEST(Spool, SymbolicLinksAreNeverFollowed) {
  TempDir dir;
  const auto elsewhere = dir.path() / "elsewhere";
  std::filesystem::create_directories(elsewhere);
  std::filesystem::create_directories(dir.path() / "spool");
  std::filesystem::create_directory_symlink(elsewhere, dir.path() / "spool" / "queue");
  Spool linked(dir.path() / "spool", counter_ids());
  EXPECT_EQ(linked.open(), make_error_code(errc::symlinked_directory));

  Spool spool(dir.path() / "real", counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"r@x"};
  ASSERT_FALSE(spool.store_as("Q1", env("", rcpts), "m"));
  // A .done planted as a link to a file outside: the record append refuses it, the file is untouched.
  const auto victim = elsewhere / "victim";
  { std::ofstream(victim) << "keep\n"; }
  std::filesystem::create_symlink(victim, dir.path() / "real" / "queue" / "Q1.done");
  QueueRecord record;
  record.type = RecordType::attempt;
  EXPECT_EQ(spool.append_records("Q1", std::span<const QueueRecord>(&record, 1)),
            std::error_code(ELOOP, std::system_category()));
  EXPECT_EQ(slurp(victim), "keep\n");
  // A queue file that is a link is not read (and so never delivered).
  std::filesystem::create_symlink(victim, dir.path() / "real" / "queue" / "Q2");
  QueuedMessage m;
  std::vector<QueueRecord> done;
  EXPECT_EQ(spool.load("Q2", m, done), std::error_code(ELOOP, std::system_category()));
}

}  // namespace
}  // namespace postern::smtp::spool
