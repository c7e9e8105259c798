// Drains the spool: delivers every queued message to each of its recipients exactly once,
// retries temporary failures with exponential backoff, and removes a message once every
// recipient is finished (delivered or permanently failed).
//
// Exactly once across crashes: a recipient is attempted only if queue/<id>.done has no record
// for it; after a successful deliver() the runner appends the record (fdatasync) before the
// next step. A crash between the two is covered by the Delivery's idempotence (see delivery.hpp):
// messages found at start-up are marked `recovered`. See docs/smtp-delivery.md.
//
// Two layers: run_due(now) / recover(now) / notify_new(id, now) are deterministic (time is an
// argument; tests drive them directly), and start()/stop() run them on one worker thread that
// owns the clock and sleeps until the next deadline or a notify_new().
#pragma once

#include "smtp/spool/delivery.hpp"
#include "smtp/spool/spool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace postern::smtp::spool {

struct RetryPolicy {
  std::chrono::milliseconds first_retry{std::chrono::minutes(1)};
  std::chrono::milliseconds max_retry{std::chrono::hours(1)};
  // After this long in the queue (counted from when this process first saw the message)
  // the remaining recipients fail permanently.
  std::chrono::milliseconds give_up_after{std::chrono::hours(24 * 5)};
};

class QueueRunner {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  struct Stats {
    std::uint64_t delivered = 0;   // recipients delivered
    std::uint64_t deferred = 0;    // temporary failures (attempts)
    std::uint64_t failed = 0;      // recipients failed permanently
    std::uint64_t completed = 0;   // messages removed from the queue
    std::uint64_t queued = 0;      // messages currently known to the runner
  };

  QueueRunner(Spool& spool, Delivery& delivery, RetryPolicy policy = {});
  ~QueueRunner();
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  // Schedules every message already in queue/ for immediate delivery (marked recovered).
  std::error_code recover(TimePoint now);
  // A freshly stored message (thread-safe; wakes the worker thread when running).
  void notify_new(std::string id, TimePoint now);
  // Attempts every message due at `now`; returns the earliest remaining deadline.
  std::optional<TimePoint> run_due(TimePoint now);

  // Worker thread: recover(), then run_due() whenever something is due or new.
  void start();
  void stop();

  Stats stats() const;

 private:
  struct Entry {
    TimePoint first_seen;
    TimePoint due;
    std::uint32_t attempts = 0;
    bool recovered = false;
  };
  // Returns true when the message is finished (removed or unreadable).
  bool attempt(const std::string& id, Entry& entry, TimePoint now);
  std::chrono::milliseconds backoff(std::uint32_t attempts) const;
  void worker_loop();

  Spool& spool_;
  Delivery& delivery_;
  RetryPolicy policy_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Entry> entries_;  // guarded by mutex_
  bool notified_ = false;                 // a notify_new() since the worker last looked
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;
};

}  // namespace postern::smtp::spool
