// How long the spool waits for the disk: a fixed-bucket histogram of its fsync/fdatasync calls
// (the message file's write + fdatasync, the queue/ directory fsync of a group commit, the
// record file's fdatasync), read by the metrics endpoint. observe() is a few relaxed atomic
// adds: no lock, no allocation, safe from every spool worker thread at once.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace postern::smtp::spool {

class SyncLatency {
 public:
  // Upper bounds in seconds; an implicit +Inf bucket follows. From a fast SSD (~0.1 ms) to a
  // struggling disk or NFS (over a second).
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.5,    2.5};
  struct Snapshot {
    std::array<std::uint64_t, kBounds.size() + 1> buckets{};  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };

  void observe(std::chrono::nanoseconds elapsed) {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(elapsed.count() > 0 ? elapsed.count() : 0), std::memory_order_relaxed);
  }

  // Buckets are read one by one while writers may add: count is their sum, so a snapshot is
  // always self-consistent (count == sum of buckets), at worst missing an in-flight sample.
  Snapshot snapshot() const {
    Snapshot s;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      s.count += s.buckets[i];
    }
    s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace postern::smtp::spool
