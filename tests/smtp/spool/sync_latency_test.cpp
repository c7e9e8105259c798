// SyncLatency (the spool's fsync histogram behind postern_spool_fsync_seconds): bucket edges
// follow Prometheus' `le` (a sample equal to a bound belongs to it), the sum is in seconds, and a
// stored message and its records are timed.
#include "smtp/spool/sync_latency.hpp"

#include "smtp/spool/spool.hpp"
#include "tests/smtp/spool/temp_dir.hpp"

#include <gtest/gtest.h>

namespace postern::smtp::spool {
namespace {

using namespace std::chrono_literals;

TEST(SyncLatency, BucketEdgesAreLessOrEqual) {
  struct Case {
    std::chrono::nanoseconds elapsed;
    std::size_t bucket;
  } cases[] = {
      {0ns, 0},       {100us, 0},     {101us, 1},  {250us, 1},   {1ms, 3},
      {1001us, 4},    {100ms, 9},     {2500ms, 11}, {2501ms, 12}, {1h, 12},  // 12: +Inf
  };
  for (const auto& c : cases) {
    SyncLatency latency;
    latency.observe(c.elapsed);
    const auto s = latency.snapshot();
    EXPECT_EQ(s.count, 1u);
    for (std::size_t i = 0; i < s.buckets.size(); ++i) {
      EXPECT_EQ(s.buckets[i], i == c.bucket ? 1u : 0u) << c.elapsed.count() << " ns, bucket " << i;
    }
  }
}

TEST(SyncLatency, SumInSecondsAndNegativeClampedToZero) {
  SyncLatency latency;
  latency.observe(1500ms);
  latency.observe(500ms);
  latency.observe(-5ms);  // a clock step can never subtract
  const auto s = latency.snapshot();
  EXPECT_EQ(s.count, 3u);
  EXPECT_DOUBLE_EQ(s.sum_seconds, 2.0);
}

TEST(SyncLatency, TheSpoolTimesStoresAndRecords) {
  testing::TempDir dir;
  std::uint64_t next = 1;
  Spool spool(dir.path(), [&] { return next++; });
  ASSERT_FALSE(spool.open());
  MessageEnvelope envelope;
  envelope.sender = "s@example.net";
  envelope.recipients = {"a@example.org"};
  StoreResult r = spool.store(envelope, "Subject: x\r\n\r\nbody\r\n");
  ASSERT_FALSE(r.error) << r.error.message();
  const auto stored = spool.sync_latency().snapshot().count;
  EXPECT_EQ(stored, 2u);  // the message file's fdatasync, the queue directory's fsync
  QueueRecord record;
  record.type = RecordType::delivered;
  record.recipient = "a@example.org";
  ASSERT_FALSE(spool.append_records(r.id, std::span<const QueueRecord>(&record, 1)));
  EXPECT_EQ(spool.sync_latency().snapshot().count, stored + 2);  // the new .done file and queue/ again
}

}  // namespace
}  // namespace postern::smtp::spool
