// Drains the spool: delivers every queued message to each of its recipients, retries
// temporary failures with exponential backoff and jitter, gives up after the queue lifetime,
// bounces permanent failures (one RFC 3464 DSN per message, dsn.hpp) and removes a message once
// every recipient is finished (delivered or failed).
//
// Per attempt: ONE Delivery::deliver() call with every pending recipient, then ONE append of
// all outcomes (+ an `attempt` record when some stay pending) to queue/<id>.done, fdatasync'ed
// before anything else happens (queue_records.hpp). Recipients recorded as done are never
// attempted again; a crash between deliver() and the record is covered by the Delivery's
// idempotence (delivery.hpp): messages found at start-up are marked `recovered`. The attempt
// count, next attempt and hold come back from the records on recover(), and the give-up clock
// runs from envelope.queued_at (the start of the transfer), so both carry on across restarts.
//
// Finishing a message: if recipients failed and the sender is not the null sender, the DSN
// for all of them (those whose NOTIFY allows it) is stored under bounce_id(id) — a repeat after
// a crash finds it already stored — and only then is the original removed. The bounce is
// scheduled like any new message (it sorts after its original, so a restart finishes the
// original first). A bounce's own failure is logged and dropped, never bounced.
//
// Two layers: recover(now) / notify_new(id, now) / run_due(now) are deterministic (wall time
// is an argument, randomness injected; tests drive them directly), and start()/stop() run them
// on one worker thread that owns the clock and sleeps until the next deadline, a new message or
// an operator verb. Operator verbs are thread-safe and take effect on the next run_due().
#pragma once

#include "smtp/spool/delivery.hpp"
#include "smtp/spool/queue_snapshot.hpp"
#include "smtp/spool/spool.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace postern::smtp::spool {

// [smtp.queue] (docs/smtp-delivery.md).
struct RetryPolicy {
  std::chrono::milliseconds retry_min{std::chrono::minutes(1)};  // first retry
  std::chrono::milliseconds retry_max{std::chrono::hours(1)};    // doubling stops here
  // Counted from envelope.queued_at: after this long the remaining recipients fail.
  std::chrono::milliseconds lifetime{std::chrono::hours(24 * 5)};
  std::string reporting_mta = "localhost";  // this host's name, for bounces
};

class QueueRunner {
 public:
  using Clock = std::chrono::system_clock;
  using TimePoint = Clock::time_point;
  // Uniform in [0, 1). Empty: no jitter (factor 1).
  using Random = std::function<double()>;

  struct Stats {
    std::uint64_t delivered = 0;  // recipients delivered locally (result.remote_mta empty)
    std::uint64_t relayed = 0;    // recipients accepted by a relay (remote_mta set)
    std::uint64_t deferred = 0;   // recipient attempts that failed temporarily
    std::uint64_t failed = 0;     // recipients failed permanently (incl. give-up)
    std::uint64_t bounced = 0;    // DSNs created
    std::uint64_t completed = 0;  // messages removed from the queue
    std::uint64_t queued = 0;     // messages currently known to the runner
    std::optional<TimePoint> oldest_queued_at;
  };

  QueueRunner(Spool& spool, Delivery& delivery, RetryPolicy policy = {}, Random random = {});
  ~QueueRunner();
  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  // Uniform [0, 1) from a std::mt19937 seeded by the caller (not thread-safe; the runner
  // calls it from one thread).
  static Random seeded_random(std::uint32_t seed);

  // Schedules every message already in queue/ (marked recovered) at its recorded next attempt,
  // or now when that is past or it was never attempted.
  std::error_code recover(TimePoint now);
  // A freshly stored message (thread-safe; wakes the worker thread when running).
  void notify_new(std::string id, TimePoint now);
  // Applies pending operator verbs, attempts every message due at `now` (and what becomes due
  // meanwhile, e.g. a bounce), calls Delivery::idle(); returns the earliest remaining deadline.
  std::optional<TimePoint> run_due(TimePoint now);

  // Operator verbs (thread-safe). Each returns whether the runner knows the id; the effect
  // happens on the worker thread. retry_now: due now (a held message stays held). hold: no
  // attempts until release (durable `held` record). remove: deleted without a bounce (logged).
  bool retry_now(const std::string& id);
  std::size_t retry_all();
  bool hold(const std::string& id);
  bool release(const std::string& id);
  bool remove(const std::string& id);
  // Snapshot of the queue, oldest first: the spool's files with the runner's schedule on top.
  // Blocking file I/O on the caller's thread.
  std::vector<MessageSnapshot> list() const;

  // Worker thread: recover(), then run_due() whenever something is due, new or asked for.
  void start();
  void stop();

  Stats stats() const;
  // The delay after the n-th attempt (n >= 1): retry_min * 2^(n-1) capped at retry_max, then
  // multiplied by a jitter factor in [0.8, 1.2).
  std::chrono::milliseconds backoff(std::uint32_t attempts);

 private:
  struct Entry {
    TimePoint queued_at;
    TimePoint due;
    bool recovered = false;
    bool held = false;
  };
  enum class Verb { retry, hold, release, remove };
  struct Command {
    Verb verb;
    std::string id;
  };

  bool enqueue(Verb verb, const std::string& id);
  void apply_commands(TimePoint now);
  void apply(const Command& command, TimePoint now);
  std::vector<std::string> due_ids(TimePoint now) const;
  // Returns true when the message is finished (removed or unreadable).
  bool attempt(const std::string& id, Entry& entry, TimePoint now);
  void record_results(const QueuedMessage& message, std::span<const std::string> pending,
                      std::vector<DeliveryResult>& results, TimePoint now,
                      std::vector<QueueRecord>& batch);
  // Bounce if needed, then remove. False when the bounce could not be stored (retry later).
  bool finish(const QueuedMessage& message, const MessageState& state, TimePoint now);
  bool store_bounce(const QueuedMessage& message, const MessageState& state, TimePoint now);
  void worker_loop();

  Spool& spool_;
  Delivery& delivery_;
  RetryPolicy policy_;
  Random random_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Entry> entries_;  // guarded by mutex_; ordered: an original before its bounce
  std::vector<Command> commands_;         // guarded by mutex_
  bool notified_ = false;                 // a notify_new() or verb since the worker last looked
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;
};

}  // namespace postern::smtp::spool
