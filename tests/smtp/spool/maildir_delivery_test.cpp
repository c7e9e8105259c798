// Tests for Maildir delivery: mailbox naming (sanitising), file placement and idempotence.
#include "smtp/spool/maildir_delivery.hpp"

#include "smtp/spool/fs.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

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
  return m;
}

std::string slurp(const std::filesystem::path& p) {
  std::string out;
  EXPECT_FALSE(fs::read_file(p, out));
  return out;
}

TEST(MaildirDelivery, CreatesFoldersAndWritesExactBytes) {
  TempDir dir;
  MaildirDelivery delivery(dir.path() / "maildir");
  std::string body = "Received: x\r\nSubject: \xe9t\xe9\r\n\r\n8bit \x80 body\r\n.\r\n";
  auto result = delivery.deliver_one(message("00000000000000a1", body), "Bob@EXAMPLE.org");
  ASSERT_EQ(result.status, DeliveryStatus::delivered) << result.detail;
  auto box = dir.path() / "maildir" / "Bob@example.org";
  EXPECT_TRUE(std::filesystem::is_directory(box / "cur"));
  EXPECT_TRUE(std::filesystem::is_empty(box / "tmp"));
  EXPECT_EQ(slurp(box / "new" / "00000000000000a1.postern"), body);
  EXPECT_EQ(delivery.delivered_path("00000000000000a1", "Bob@EXAMPLE.org"),
            box / "new" / "00000000000000a1.postern");
}

TEST(MaildirDelivery, RepeatIsIdempotentAndDoesNotOverwrite) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  ASSERT_EQ(delivery.deliver_one(message("0000000000000001", "one"), "r@x").status,
            DeliveryStatus::delivered);
  auto repeat = delivery.deliver_one(message("0000000000000001", "changed"), "r@x");
  EXPECT_EQ(repeat.status, DeliveryStatus::delivered);
  EXPECT_EQ(slurp(dir.path() / "r@x" / "new" / "0000000000000001.postern"), "one");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "r@x" / "new"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(MaildirDelivery, RecoveredMessageAlreadyReadIntoCurIsNotDuplicated) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  ASSERT_EQ(delivery.deliver_one(message("0000000000000002", "m"), "r@x").status,
            DeliveryStatus::delivered);
  auto box = dir.path() / "r@x";
  std::filesystem::rename(box / "new" / "0000000000000002.postern",
                          box / "cur" / "0000000000000002.postern:2,S");
  QueuedMessage again = message("0000000000000002", "m");
  again.recovered = true;
  EXPECT_EQ(delivery.deliver_one(again, "r@x").status, DeliveryStatus::delivered);
  EXPECT_TRUE(std::filesystem::is_empty(box / "new"));
}

TEST(MaildirDelivery, StaleTmpFromACrashIsReplaced) {
  TempDir dir;
  MaildirDelivery delivery(dir.path());
  std::filesystem::create_directories(dir.path() / "r@x" / "tmp");
  std::ofstream(dir.path() / "r@x" / "tmp" / "0000000000000003.postern") << "torn";
  ASSERT_EQ(delivery.deliver_one(message("0000000000000003", "whole"), "r@x").status,
            DeliveryStatus::delivered);
  EXPECT_EQ(slurp(dir.path() / "r@x" / "new" / "0000000000000003.postern"), "whole");
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
