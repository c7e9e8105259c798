// Tests for Maildir delivery: mailbox naming (sanitising), file placement and idempotence.
#include "smtp/spool/maildir_delivery.hpp"

#include "smtp/spool/fs.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

namespace postern::smtp::spool {
namespace {

using testing::TempDir;

struct NameCase {
  std::string recipient;
  std::optional<std::string> expected;
};

TEST(MailboxName, Table) {
  const NameCase cases[] = {
      {"alice@Example.ORG", "alice@example.org"},
      {"Alice@example.org", "Alice@example.org"},  // local part keeps its case
      {"a.b+tag@x.y", "a.b+tag@x.y"},
      {"../etc@x", "%2E.%2Fetc@x"},
      {"..", "%2E."},
      {".", "%2E"},
      {"a/b@x", "a%2Fb@x"},
      {"\"john doe\"@x", "%22john%20doe%22@x"},
      {"\"a@b\"@c", "%22a%40b%22@c"},
      {"100%@x", "100%25@x"},
      {"a\x01\xff@x", "a%01%FF@x"},
      {"", std::nullopt},
      {std::string(300, 'a') + "@x", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mailbox_name(c.recipient), c.expected) << c.recipient;
  }
}

TEST(MailboxName, NeverASlashNorDotDot) {
  for (int a = 0; a < 256; ++a) {
    for (int b : {'.', '/', 'a', '@', '\0'}) {
      std::string r{static_cast<char>(a), static_cast<char>(b)};
      auto name = mailbox_name(r);
      ASSERT_TRUE(name);
      EXPECT_EQ(name->find('/'), std::string::npos);
      EXPECT_NE(*name, ".");
      EXPECT_NE(*name, "..");
      EXPECT_NE(name->front(), '.');
    }
  }
}

QueuedMessage message(std::string id, std::string body) {
  QueuedMessage m;
  m.id = std::move(id);
  m.recipients = {"bob@example.org"};
  m.message = std::move(body);
  m.queued_at = std::chrono::system_clock::time_point(std::chrono::microseconds(1'764'700'000'123'456));
  return m;
}

std::string name_of(const QueuedMessage& m) { return maildir_file_name(m, "localhost"); }

std::string slurp(const std::filesystem::path& p) {
  std::string out;
  EXPECT_FALSE(fs::read_file(p, out));
  return out;
}

TEST(MaildirFileName, FollowsTheMaildirConvention) {
  QueuedMessage m = message("00000000000000a1", "12345");
  EXPECT_EQ(maildir_file_name(m, "mail.example.org"), "1764700000.M123456Q00000000000000a1.mail.example.org,S=5");
  // maildir(5): '/' and ':' cannot appear in the host part.
  EXPECT_EQ(maildir_file_name(m, "a/b:c"), "1764700000.M123456Q00000000000000a1.a\\057b\\072c,S=5");
}

TEST(MaildirDelivery, CreatesFoldersAndWritesExactBytes) {
  TempDir dir;
  MaildirDelivery delivery(dir.path() / "maildir");
  std::string body = "Received: x\r\nSubject: \xe9t\xe9\r\n\r\n8bit \x80 body\r\n.\r\n";
  const QueuedMessage m = message("00000000000000a1", body);
  auto result = delivery.deliver_one(m, "Bob@EXAMPLE.org");
  ASSERT_EQ(result.status, DeliveryStatus::delivered) << result.detail;
  auto box = dir.path() / "maildir" / "Bob@example.org";
  EXPECT_TRUE(std::filesystem::is_directory(box / "cur"));
  EXPECT_TRUE(std::filesystem::is_empty(box / "tmp"));
  EXPECT_EQ(slurp(box / "new" / name_of(m)), body);
  EXPECT_EQ(delivery.delivered_path(m, "Bob@EXAMPLE.org"), box / "new" / name_of(m));
  struct stat st {};
  ASSERT_EQ(::stat((box / "new" / name_of(m)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(box.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST(MaildirDelivery, ModeAndGroupForTheImapServer) {
  TempDir dir;
  MaildirOptions options;
  options.ownership = {0660, static_cast<int>(::getegid())};
  MaildirDelivery delivery(dir.path(), options);
  const QueuedMessage m = message("00000000000000b2", "m");
  ASSERT_EQ(delivery.deliver_one(m, "r@x").status, DeliveryStatus::delivered);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "r@x" / "new" / name_of(m)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, ::getegid());
  for (const char* d : {"", "new", "cur", "tmp"}) {
    ASSERT_EQ(::stat((dir.path() / "r@x" / d).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 02770u) << d;
  }
  EXPECT_EQ(fs::directory_mode({0640, 5}), 02750u);
  EXPECT_EQ(fs::directory_mode({0600, 5}), 0700u);
  EXPECT_EQ(fs::directory_mode({0660, -1}), 0770u);
}

TEST(MaildirDelivery, RepeatIsIdempotentAndDoesNotOverwrite) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  ASSERT_EQ(delivery.deliver_one(message("0000000000000001", "one"), "r@x").status,
            DeliveryStatus::delivered);
  auto repeat = delivery.deliver_one(message("0000000000000001", "ONE"), "r@x");
  EXPECT_EQ(repeat.status, DeliveryStatus::delivered);
  EXPECT_EQ(slurp(dir.path() / "r@x" / "new" / name_of(message("0000000000000001", "one"))), "one");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "r@x" / "new"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(MaildirDelivery, RecoveredMessageAlreadyReadIntoCurIsNotDuplicated) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  const QueuedMessage m = message("0000000000000002", "m");
  ASSERT_EQ(delivery.deliver_one(m, "r@x").status, DeliveryStatus::delivered);
  auto box = dir.path() / "r@x";
  std::filesystem::rename(box / "new" / name_of(m), box / "cur" / (name_of(m) + ":2,S"));
  QueuedMessage again = m;
  again.recovered = true;
  EXPECT_EQ(delivery.deliver_one(again, "r@x").status, DeliveryStatus::delivered);
  EXPECT_TRUE(std::filesystem::is_empty(box / "new"));
}

TEST(MaildirDelivery, RecoveredMessageDeliveredUnderTheOldNameIsNotDuplicated) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  std::filesystem::create_directories(dir.path() / "r@x" / "new");
  std::ofstream(dir.path() / "r@x" / "new" / "0000000000000006.postern") << "m";
  QueuedMessage m = message("0000000000000006", "m");
  m.recovered = true;
  EXPECT_EQ(delivery.deliver_one(m, "r@x").status, DeliveryStatus::delivered);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "r@x" / "new"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(MaildirDelivery, StaleTmpFromACrashIsReplaced) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  const QueuedMessage m = message("0000000000000003", "whole");
  std::filesystem::create_directories(dir.path() / "r@x" / "tmp");
  std::ofstream(dir.path() / "r@x" / "tmp" / name_of(m)) << "torn";
  ASSERT_EQ(delivery.deliver_one(m, "r@x").status, DeliveryStatus::delivered);
  EXPECT_EQ(slurp(dir.path() / "r@x" / "new" / name_of(m)), "whole");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "r@x" / "tmp"));
}

TEST(MaildirDelivery, UnwritableRootIsATemporaryFailure) {
  TempDir dir;
  std::ofstream(dir.path() / "file") << "not a directory";
  MaildirDelivery delivery(dir.path() / "file");
  auto result = delivery.deliver_one(message("0000000000000004", "m"), "r@x");
  EXPECT_EQ(result.status, DeliveryStatus::temporary_failure);
  EXPECT_FALSE(result.detail.empty());
}

TEST(MaildirDelivery, UnnameableRecipientIsPermanent) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  EXPECT_EQ(delivery.deliver_one(message("0000000000000005", "m"), "").status,
            DeliveryStatus::permanent_failure);
}

}  // namespace
}  // namespace postern::smtp::spool
