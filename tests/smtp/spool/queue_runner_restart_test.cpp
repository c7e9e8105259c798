// Tests for the reworked queue runner: the durable schedule carried across restarts (two
// runners over one spool), backoff jitter bounds with an injected random source, the lifetime
// give-up with injected time, operator verbs, one deliver() per attempt, and bounces (one DSN
// per message, none for the null sender or NOTIFY=NEVER, crash-repeat safe).
#include "smtp/spool/dsn.hpp"
#include "smtp/spool/queue_runner.hpp"

#include "smtp/spool/fs.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace postern::smtp::spool {
namespace {

using testing::TempDir;
using namespace std::chrono_literals;
using TimePoint = QueueRunner::TimePoint;

const TimePoint kT0 = from_unix_ms(1'764'000'000'000);

// Per recipient: a list of statuses to return in turn (then delivered).
class ScriptedDelivery : public Delivery {
 public:
  std::map<std::string, std::vector<DeliveryStatus>> script;
  std::vector<std::pair<std::string, std::vector<std::string>>> batches;  // (id, recipients)
  int idles = 0;
  std::vector<DeliveryResult> deliver(const QueuedMessage& m,
                                      std::span<const std::string> rcpts) override {
    batches.emplace_back(m.id, std::vector<std::string>(rcpts.begin(), rcpts.end()));
    std::vector<DeliveryResult> out;
    for (const std::string& rcpt : rcpts) {
      auto& steps = script[rcpt];
      DeliveryStatus s = DeliveryStatus::delivered;
      if (!steps.empty()) {
        s = steps.front();
        steps.erase(steps.begin());
      }
      DeliveryResult r = make_result(s, s == DeliveryStatus::delivered ? "ok" : "relay said no");
      if (s != DeliveryStatus::delivered || rcpt.ends_with("@remote.example")) {
        r.remote_mta = "mx.site.example";
      }
      if (s == DeliveryStatus::permanent_failure) {
        r.status_code = "5.1.1";
        r.remote_reply = "550 5.1.1 <" + rcpt + ">: Recipient address rejected";
      } else if (s == DeliveryStatus::temporary_failure) {
        r.remote_reply = "451 4.3.0 try later";
      }
      out.push_back(std::move(r));
    }
    return out;
  }
  void idle() override { ++idles; }
};

struct Fixture {
  TempDir dir;
  Spool spool{dir.path(), [] { return 1u; }};
  ScriptedDelivery delivery;
  RetryPolicy policy{60s, 3600s, 24h * 5, "mta.test"};
  Fixture() { EXPECT_FALSE(spool.open()); }

  std::string store(std::string id, std::string sender, std::vector<std::string> rcpts,
                    std::vector<RecipientParams> params = {}) {
    MessageEnvelope e;
    e.sender = std::move(sender);
    e.recipients = std::move(rcpts);
    e.recipient_params = std::move(params);
    e.queued_at = kT0;
    EXPECT_FALSE(spool.store_as(id, e, "Subject: hello\r\nFrom: a@local.example\r\n\r\nbody\r\n"));
    return id;
  }
  bool queued(const std::string& id) const {
    return std::filesystem::exists(dir.path() / "queue" / id);
  }
  std::string file(const std::string& id) const {
    std::string out;
    fs::read_file(dir.path() / "queue" / id, out);
    return out;
  }
};

TEST(QueueRunnerSchedule, OneDeliverCallPerAttemptWithAllPendingAndIdleAfterThePass) {
  Fixture f;
  f.delivery.script["b@remote.example"] = {DeliveryStatus::temporary_failure};
  QueueRunner runner(f.spool, f.delivery, f.policy);
  runner.notify_new(f.store("M1", "s@local.example", {"a@local.example", "b@remote.example",
                                                     "c@remote.example"}),
                    kT0);
  EXPECT_EQ(runner.run_due(kT0), kT0 + 60s);
  ASSERT_EQ(f.delivery.batches.size(), 1u);
  EXPECT_EQ(f.delivery.batches[0].second.size(), 3u);
  EXPECT_EQ(f.delivery.idles, 1);
  EXPECT_EQ(runner.stats().delivered, 1u);
  EXPECT_EQ(runner.stats().relayed, 1u);
  EXPECT_EQ(runner.stats().deferred, 1u);
  EXPECT_EQ(runner.stats().oldest_queued_at, kT0);
  runner.run_due(kT0 + 60s);
  ASSERT_EQ(f.delivery.batches.size(), 2u);
  EXPECT_EQ(f.delivery.batches[1].second, std::vector<std::string>{"b@remote.example"});
  EXPECT_FALSE(f.queued("M1"));
  EXPECT_EQ(runner.stats().relayed, 2u);
}

TEST(QueueRunnerSchedule, RestartCarriesAttemptsNextAttemptAndFirstQueued) {
  Fixture f;
  f.delivery.script["b@remote.example"] =
      std::vector<DeliveryStatus>(3, DeliveryStatus::temporary_failure);
  f.store("M1", "s@local.example", {"a@local.example", "b@remote.example"});
  TimePoint next;
  {
    QueueRunner first(f.spool, f.delivery, f.policy);
    ASSERT_FALSE(first.recover(kT0));
    next = *first.run_due(kT0);                 // attempt 1: +60 s
    EXPECT_EQ(next, kT0 + 60s);
    next = *first.run_due(next);                // attempt 2: +120 s
    EXPECT_EQ(next, kT0 + 180s);
  }  // "kill": nothing but the files survives
  QueueRunner second(f.spool, f.delivery, f.policy);
  ASSERT_FALSE(second.recover(kT0 + 100s));  // restarted before the next attempt
  EXPECT_EQ(second.run_due(kT0 + 100s), kT0 + 180s);  // not attempted early
  EXPECT_EQ(f.delivery.batches.size(), 2u);
  auto listed = second.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].attempts, 2u);
  EXPECT_EQ(listed[0].queued_at, kT0);
  EXPECT_EQ(listed[0].next_attempt, kT0 + 180s);
  EXPECT_EQ(listed[0].recipients[0].status, RecipientStatus::delivered);
  EXPECT_EQ(listed[0].recipients[1].status, RecipientStatus::pending);
  EXPECT_EQ(listed[0].recipients[1].last_error, "relay said no");
  EXPECT_EQ(second.stats().oldest_queued_at, kT0);
  // Attempt 3 is the third: its backoff doubles again (240 s), counted across the restart.
  EXPECT_EQ(second.run_due(kT0 + 180s), kT0 + 420s);
  ASSERT_EQ(f.delivery.batches.size(), 3u);
  EXPECT_EQ(f.delivery.batches[2].second, std::vector<std::string>{"b@remote.example"});
}

TEST(QueueRunnerSchedule, BackoffDoublesToTheCapWithJitterInBounds) {
  Fixture f;
  double r = 0.0;
  QueueRunner runner(f.spool, f.delivery, f.policy, [&r] { return r; });
  const std::int64_t expected[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
  for (std::uint32_t n = 1; n <= 8; ++n) {
    const std::int64_t base = expected[n - 1] * 1000;
    r = 0.0;
    EXPECT_EQ(runner.backoff(n).count(), base * 8 / 10) << n;
    r = 0.5;
    EXPECT_EQ(runner.backoff(n).count(), base) << n;
    r = 0.999999;
    EXPECT_LT(runner.backoff(n).count(), base * 12 / 10) << n;
    EXPECT_GT(runner.backoff(n).count(), base * 119 / 100) << n;
    r = 7.0;  // a broken source is clamped, never a wild delay
    EXPECT_LE(runner.backoff(n).count(), base * 12 / 10) << n;
  }
  auto seeded = QueueRunner::seeded_random(42);
  for (int i = 0; i < 1000; ++i) {
    double x = seeded();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

TEST(QueueRunnerSchedule, LifetimeGiveUpFailsTheRestAndBouncesOnce) {
  Fixture f;
  f.policy.lifetime = 1h;
  f.delivery.script["b@remote.example"] =
      std::vector<DeliveryStatus>(100, DeliveryStatus::temporary_failure);
  QueueRunner runner(f.spool, f.delivery, f.policy);
  runner.notify_new(f.store("M1", "s@local.example", {"a@local.example", "b@remote.example"}),
                    kT0);
  std::optional<TimePoint> next = runner.run_due(kT0);
  while (next && *next < kT0 + 2h) next = runner.run_due(*next);
  EXPECT_FALSE(f.queued("M1"));
  EXPECT_EQ(runner.stats().failed, 1u);
  EXPECT_EQ(runner.stats().bounced, 1u);
  // The bounce went to the original sender, from the null sender, in one batch.
  auto& last = f.delivery.batches.back();
  EXPECT_EQ(last.first, bounce_id("M1"));
  EXPECT_EQ(last.second, std::vector<std::string>{"s@local.example"});
  EXPECT_FALSE(f.queued(bounce_id("M1")));
  EXPECT_EQ(runner.stats().completed, 2u);
}

TEST(QueueRunnerSchedule, GiveUpCountsFromQueuedAtAcrossARestart) {
  Fixture f;
  f.policy.lifetime = 1h;
  f.delivery.script["b@x"] = std::vector<DeliveryStatus>(100, DeliveryStatus::temporary_failure);
  f.store("M1", "", {"b@x"});
  {
    QueueRunner first(f.spool, f.delivery, f.policy);
    ASSERT_FALSE(first.recover(kT0 + 30min));
    first.run_due(kT0 + 30min);
    EXPECT_TRUE(f.queued("M1"));
  }
  QueueRunner second(f.spool, f.delivery, f.policy);
  ASSERT_FALSE(second.recover(kT0 + 61min));  // a fresh process, but the message is old
  second.run_due(kT0 + 61min);
  EXPECT_FALSE(f.queued("M1"));
  EXPECT_EQ(second.stats().failed, 1u);
  EXPECT_EQ(second.stats().bounced, 0u);  // null sender: never bounced
}

TEST(QueueRunnerVerbs, HoldReleaseRetryRemove) {
  Fixture f;
  f.delivery.script["b@x"] = std::vector<DeliveryStatus>(10, DeliveryStatus::temporary_failure);
  QueueRunner runner(f.spool, f.delivery, f.policy);
  runner.notify_new(f.store("M1", "s@x", {"b@x"}), kT0);
  runner.notify_new(f.store("M2", "s@x", {"b@x"}), kT0);
  EXPECT_FALSE(runner.hold("nope"));
  EXPECT_TRUE(runner.hold("M1"));
  EXPECT_EQ(runner.run_due(kT0), kT0 + 60s);  // only M2 attempted
  ASSERT_EQ(f.delivery.batches.size(), 1u);
  EXPECT_EQ(f.delivery.batches[0].first, "M2");
  EXPECT_TRUE(f.file("M1.done").starts_with("held "));
  auto listed = runner.list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0].held || listed[1].held);

  // Held survives a restart.
  {
    QueueRunner other(f.spool, f.delivery, f.policy);
    ASSERT_FALSE(other.recover(kT0 + 1h));
    other.run_due(kT0 + 1h);
    EXPECT_EQ(f.delivery.batches.back().first, "M2");
  }
  const std::size_t before = f.delivery.batches.size();
  EXPECT_TRUE(runner.retry_now("M2"));
  runner.run_due(kT0 + 1s);  // due again at once
  EXPECT_EQ(f.delivery.batches.size(), before + 1);
  EXPECT_TRUE(runner.release("M1"));
  runner.run_due(kT0 + 2s);
  EXPECT_EQ(f.delivery.batches.back().first, "M1");
  EXPECT_TRUE(runner.remove("M2"));
  runner.run_due(kT0 + 3s);
  EXPECT_FALSE(f.queued("M2"));
  EXPECT_FALSE(f.queued(bounce_id("M2")));  // removed without a bounce
  EXPECT_FALSE(runner.remove("M2"));
  EXPECT_EQ(runner.stats().queued, 1u);
  EXPECT_EQ(runner.retry_all(), 1u);
}

TEST(QueueRunnerBounce, OneDsnForAllFailedRecipientsHonouringNotify) {
  Fixture f;
  for (const char* r : {"x@remote.example", "y@remote.example", "z@remote.example"}) {
    f.delivery.script[r] = {DeliveryStatus::permanent_failure};
  }
  // Hold the bounce back so its content can be read: the fake fails the original sender once.
  f.delivery.script["s@local.example"] = {DeliveryStatus::temporary_failure};
  QueueRunner runner(f.spool, f.delivery, f.policy);
  runner.notify_new(
      f.store("M1", "s@local.example",
              {"x@remote.example", "y@remote.example", "z@remote.example", "ok@local.example"},
              {{"", "rfc822;X@remote.example"}, {"NEVER", ""}, {"SUCCESS", ""}, {"", ""}}),
      kT0);
  runner.run_due(kT0);
  EXPECT_FALSE(f.queued("M1"));
  ASSERT_TRUE(f.queued(bounce_id("M1")));
  EXPECT_EQ(runner.stats().bounced, 1u);
  EXPECT_EQ(runner.stats().failed, 3u);
  const std::string dsn = f.file(bounce_id("M1"));
  EXPECT_TRUE(dsn.starts_with("postern-spool 1\nsender \n"));
  EXPECT_NE(dsn.find("recipient s@local.example\n"), std::string::npos);
  EXPECT_NE(dsn.find("Final-Recipient: rfc822; x@remote.example"), std::string::npos);
  EXPECT_NE(dsn.find("Original-Recipient: rfc822;X@remote.example"), std::string::npos);
  EXPECT_NE(dsn.find("Diagnostic-Code: smtp; 550 5.1.1 <x@remote.example>"), std::string::npos);
  EXPECT_EQ(dsn.find("y@remote.example"), std::string::npos);  // NOTIFY=NEVER
  EXPECT_EQ(dsn.find("z@remote.example"), std::string::npos);  // NOTIFY without FAILURE
}

TEST(QueueRunnerBounce, CrashBeforeRemovingTheOriginalDoesNotDoubleTheBounce) {
  Fixture f;
  f.delivery.script["x@remote.example"] = {DeliveryStatus::permanent_failure};
  f.delivery.script["s@local.example"] =
      std::vector<DeliveryStatus>(5, DeliveryStatus::temporary_failure);
  f.store("M1", "s@local.example", {"x@remote.example"});
  QueueRunner first(f.spool, f.delivery, f.policy);
  first.notify_new("M1", kT0);
  first.run_due(kT0);
  ASSERT_TRUE(f.queued(bounce_id("M1")));
  const std::string stored = f.file(bounce_id("M1"));
  // As if the crash hit between storing the bounce and removing the original: put it back.
  f.store("M1", "s@local.example", {"x@remote.example"});
  QueueRecord failed;
  failed.type = RecordType::failed;
  failed.recipient = "x@remote.example";
  ASSERT_FALSE(f.spool.append_records("M1", std::span(&failed, 1)));
  QueueRunner second(f.spool, f.delivery, f.policy);
  ASSERT_FALSE(second.recover(kT0 + 1s));
  second.run_due(kT0 + 1s);
  EXPECT_FALSE(f.queued("M1"));
  EXPECT_EQ(second.stats().bounced, 0u);  // found already stored
  EXPECT_EQ(f.file(bounce_id("M1")).substr(0, 200), stored.substr(0, 200));
}

TEST(QueueRunnerBounce, BounceOfABounceIsDropped) {
  Fixture f;
  f.delivery.script["gone@remote.example"] = {DeliveryStatus::permanent_failure};
  QueueRunner runner(f.spool, f.delivery, f.policy);
  runner.notify_new(f.store("M1", "", {"gone@remote.example"}), kT0);
  EXPECT_EQ(runner.run_due(kT0), std::nullopt);
  EXPECT_FALSE(f.queued("M1"));
  EXPECT_FALSE(f.queued(bounce_id("M1")));
  EXPECT_EQ(runner.stats().failed, 1u);
  EXPECT_EQ(runner.stats().bounced, 0u);
}

TEST(QueueSnapshot, ListsAStoppedSpoolOldestFirstWithoutChangingIt) {
  Fixture f;
  MessageEnvelope e;
  e.sender = "s@x";
  e.recipients = {"a@x", "b@x"};
  e.queued_at = kT0 + 10s;
  ASSERT_FALSE(f.spool.store_as("NEW", e, "12345"));
  e.queued_at = kT0;
  ASSERT_FALSE(f.spool.store_as("OLD", e, "1"));
  const std::vector<QueueRecord> records = {QueueRecord::delivered("a@x"),
                                            QueueRecord::deferred("b@x", "connection refused"),
                                            QueueRecord::attempt(kT0, kT0 + 60s)};
  ASSERT_FALSE(f.spool.append_records("NEW", records));
  std::ofstream(f.dir.path() / "queue" / "ORPHAN.done") << "delivered a@x\n";
  Spool reader(f.dir.path(), [] { return 0u; });  // never opened: read-only use
  std::vector<MessageSnapshot> listed;
  ASSERT_FALSE(list_queue_snapshot(reader, listed));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, "OLD");
  EXPECT_EQ(listed[1].id, "NEW");
  EXPECT_EQ(listed[1].size, 5u);
  EXPECT_EQ(listed[1].attempts, 1u);
  EXPECT_EQ(listed[1].next_attempt, kT0 + 60s);
  EXPECT_EQ(listed[1].recipients[1].last_error, "connection refused");
  EXPECT_TRUE(std::filesystem::exists(f.dir.path() / "queue" / "ORPHAN.done"));
}

}  // namespace
}  // namespace postern::smtp::spool
