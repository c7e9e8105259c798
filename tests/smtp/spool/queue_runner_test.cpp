// Tests for the queue runner: delivery to every recipient, retries with backoff, permanent
// failures, recovery, and exactly-once delivery when the process dies at any step (forked
// children that _exit() at an injected point, then a fresh runner recovers the queue).
#include "smtp/spool/queue_runner.hpp"

#include "smtp/spool/maildir_delivery.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <map>
#include <sys/wait.h>
#include <unistd.h>

namespace postern::smtp::spool {
namespace {

using testing::TempDir;
using namespace std::chrono_literals;
using TimePoint = QueueRunner::TimePoint;

Spool::IdGenerator counter_ids() {
  auto next = std::make_shared<std::uint64_t>(1);
  return [next] { return (*next)++; };
}

const TimePoint kT0 = from_unix_ms(1'764'000'000'000);

MessageEnvelope env(std::string sender, std::vector<std::string> rcpts) {
  MessageEnvelope e;
  e.queued_at = kT0;
  e.sender = std::move(sender);
  e.recipients = std::move(rcpts);
  return e;
}

// Scripted results per recipient; records every call.
class FakeDelivery : public Delivery {
 public:
  std::map<std::string, std::vector<DeliveryStatus>> script;
  std::vector<std::pair<std::string, std::string>> calls;  // (id, recipient)
  std::vector<std::vector<std::string>> batches;           // recipients per deliver() call
  int idles = 0;
  std::vector<DeliveryResult> deliver(const QueuedMessage& m,
                                      std::span<const std::string> rcpts) override {
    batches.emplace_back(rcpts.begin(), rcpts.end());
    std::vector<DeliveryResult> out;
    for (const std::string& rcpt : rcpts) {
      calls.emplace_back(m.id, rcpt);
      auto& steps = script[rcpt];
      DeliveryStatus s = DeliveryStatus::delivered;
      if (!steps.empty()) {
        s = steps.front();
        steps.erase(steps.begin());
      }
      DeliveryResult r = make_result(s, s == DeliveryStatus::delivered ? "ok" : "scripted");
      if (s == DeliveryStatus::permanent_failure) {
        r.status_code = "5.1.1";
        r.remote_mta = "mx.site.example";
        r.remote_reply = "550 5.1.1 <" + rcpt + ">: no such user";
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  void idle() override { ++idles; }
};

std::size_t count_files(const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return 0;
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                                std::filesystem::directory_iterator()));
}

TEST(QueueRunner, DeliversEveryRecipientAndRemovesTheMessage) {
  TempDir dir;
  Spool spool(dir.path() / "spool", counter_ids());
  ASSERT_FALSE(spool.open());
  FakeDelivery delivery;
  QueueRunner runner(spool, delivery);
  std::vector<std::string> rcpts{"a@x", "b@x"};
  auto r = spool.store(env("s@y", rcpts), "m");
  const TimePoint t0 = kT0;
  runner.notify_new(r.id, t0);
  EXPECT_EQ(runner.run_due(t0), std::nullopt);
  EXPECT_EQ(delivery.calls.size(), 2u);
  EXPECT_EQ(count_files(dir.path() / "spool" / "queue"), 0u);
  EXPECT_EQ(runner.stats().delivered, 2u);
  EXPECT_EQ(runner.stats().completed, 1u);
}

TEST(QueueRunner, TemporaryFailuresBackOffAndOnlyRetryThePendingRecipient) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  FakeDelivery delivery;
  delivery.script["b@x"] = {DeliveryStatus::temporary_failure, DeliveryStatus::temporary_failure};
  QueueRunner runner(spool, delivery, RetryPolicy{10s, 15s, 1h, "mta.test"});
  std::vector<std::string> rcpts{"a@x", "b@x"};
  auto r = spool.store(env("", rcpts), "m");
  const TimePoint t0 = kT0;
  runner.notify_new(r.id, t0);
  EXPECT_EQ(runner.run_due(t0), t0 + 10s);
  EXPECT_EQ(runner.run_due(t0 + 9s), t0 + 10s);  // not due: nothing attempted
  EXPECT_EQ(delivery.calls.size(), 2u);
  EXPECT_EQ(runner.run_due(t0 + 10s), t0 + 25s);  // doubled, capped at 15s
  EXPECT_EQ(runner.run_due(t0 + 25s), std::nullopt);
  ASSERT_EQ(delivery.calls.size(), 4u);
  EXPECT_EQ(delivery.calls[2].second, "b@x");
  EXPECT_EQ(delivery.calls[3].second, "b@x");
  EXPECT_EQ(runner.stats().deferred, 2u);
  EXPECT_EQ(count_files(dir.path() / "queue"), 0u);
}

TEST(QueueRunner, PermanentFailureAndGiveUpFinishTheMessage) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  FakeDelivery delivery;
  delivery.script["bad@x"] = {DeliveryStatus::permanent_failure};
  delivery.script["slow@x"] = std::vector<DeliveryStatus>(10, DeliveryStatus::temporary_failure);
  QueueRunner runner(spool, delivery, RetryPolicy{1s, 1s, 3s, "mta.test"});
  std::vector<std::string> rcpts{"bad@x", "slow@x"};
  auto r = spool.store(env("", rcpts), "m");
  const TimePoint t0 = kT0;
  runner.notify_new(r.id, t0);
  for (int s = 0; s <= 3; ++s) runner.run_due(t0 + std::chrono::seconds(s));
  EXPECT_EQ(runner.stats().failed, 2u);
  EXPECT_EQ(runner.stats().queued, 0u);
  EXPECT_EQ(count_files(dir.path() / "queue"), 0u);
  // bad@x was attempted once only.
  EXPECT_EQ(std::count_if(delivery.calls.begin(), delivery.calls.end(),
                          [](auto& c) { return c.second == "bad@x"; }),
            1);
}

TEST(QueueRunner, RecoverSkipsRecipientsAlreadyRecorded) {
  TempDir dir;
  Spool spool(dir.path(), counter_ids());
  ASSERT_FALSE(spool.open());
  std::vector<std::string> rcpts{"a@x", "b@x", "c@x"};
  auto r = spool.store(env("", rcpts), "m");
  QueueRecord failed;
  failed.type = RecordType::failed;
  failed.recipient = "c@x";
  const std::vector<QueueRecord> done = {QueueRecord::delivered("a@x"), failed};
  ASSERT_FALSE(spool.append_records(r.id, done));
  FakeDelivery delivery;
  QueueRunner runner(spool, delivery);
  ASSERT_FALSE(runner.recover(TimePoint{}));
  runner.run_due(TimePoint{});
  ASSERT_EQ(delivery.calls.size(), 1u);
  EXPECT_EQ(delivery.calls[0].second, "b@x");
  EXPECT_EQ(count_files(dir.path() / "queue"), 0u);
}

TEST(QueueRunner, WorkerThreadDeliversNotifiedMessages) {
  TempDir dir;
  Spool spool(dir.path() / "spool", counter_ids());
  ASSERT_FALSE(spool.open());
  MaildirDelivery delivery(dir.path() / "maildir");
  QueueRunner runner(spool, delivery);
  std::vector<std::string> rcpts{"a@x"};
  auto early = spool.store(env("", rcpts), "before start");  // found by recover()
  runner.start();
  for (int i = 0; i < 20; ++i) {
    auto r = spool.store(env("", rcpts), "m" + std::to_string(i));
    runner.notify_new(r.id, QueueRunner::Clock::now());
  }
  for (int i = 0; i < 500 && runner.stats().completed < 21; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  runner.stop();
  EXPECT_EQ(runner.stats().completed, 21u);
  EXPECT_EQ(count_files(dir.path() / "maildir" / "a@x" / "new"), 21u);
  EXPECT_EQ(count_files(dir.path() / "spool" / "queue"), 0u);
}

// Dies (as kill -9 would: no destructors, no flushing) on the n-th call of a hook.
class CrashingDelivery : public Delivery {
 public:
  CrashingDelivery(Delivery& inner, int crash_before, int crash_after)
      : inner_(inner), crash_before_(crash_before), crash_after_(crash_after) {}
  // One recipient per call through the inner delivery, so the crash points stay per recipient.
  std::vector<DeliveryResult> deliver(const QueuedMessage& m,
                                      std::span<const std::string> rcpts) override {
    std::vector<DeliveryResult> out;
    for (const std::string& rcpt : rcpts) {
      if (call_ == crash_before_) ::_exit(0);
      auto one = inner_.deliver(m, std::span(&rcpt, 1));
      if (call_++ == crash_after_) ::_exit(0);  // delivered, but not yet recorded as done
      out.push_back(std::move(one.at(0)));
    }
    return out;
  }

 private:
  Delivery& inner_;
  int crash_before_;
  int crash_after_;
  int call_ = 0;
};

void crash_and_recover(int crash_before, int crash_after) {
  TempDir dir;
  const auto spool_dir = dir.path() / "spool";
  const auto mail_dir = dir.path() / "maildir";
  const std::vector<std::string> rcpts{"a@x", "b@x", "c@x"};
  {
    Spool spool(spool_dir, counter_ids());
    ASSERT_FALSE(spool.open());
    for (int i = 0; i < 2; ++i) ASSERT_FALSE(spool.store(env("", rcpts), "m").error);
  }
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Spool spool(spool_dir, counter_ids());
    MaildirDelivery maildir(mail_dir);
    CrashingDelivery crashing(maildir, crash_before, crash_after);
    QueueRunner runner(spool, crashing);
    if (spool.open() || runner.recover(TimePoint{})) ::_exit(2);
    runner.run_due(TimePoint{});
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  Spool spool(spool_dir, counter_ids());
  ASSERT_FALSE(spool.open());
  MaildirDelivery maildir(mail_dir);
  QueueRunner runner(spool, maildir);
  ASSERT_FALSE(runner.recover(TimePoint{}));
  EXPECT_EQ(runner.run_due(TimePoint{}), std::nullopt);
  for (const auto& rcpt : rcpts) {
    EXPECT_EQ(count_files(mail_dir / rcpt / "new"), 2u)
        << rcpt << " crash_before=" << crash_before << " crash_after=" << crash_after;
  }
  EXPECT_EQ(count_files(spool_dir / "queue"), 0u);
}

TEST(QueueRunner, CrashAtEveryStepDeliversEachRecipientExactlyOnce) {
  for (int n = 0; n <= 6; ++n) {
    crash_and_recover(n, -1);  // before the n-th delivery starts
    crash_and_recover(-1, n);  // after the n-th delivery, before its done record
  }
}

}  // namespace
}  // namespace postern::smtp::spool
