// The queue runner (see queue_runner.hpp): per-message attempts, backoff and the worker thread.
#include "smtp/spool/queue_runner.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <vector>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kLog = "smtp";

bool is_done(const std::vector<DoneRecord>& done, const std::string& recipient) {
  return std::any_of(done.begin(), done.end(),
                     [&](const DoneRecord& r) { return r.recipient == recipient; });
}

}  // namespace

QueueRunner::QueueRunner(Spool& spool, Delivery& delivery, RetryPolicy policy)
    : spool_(spool), delivery_(delivery), policy_(policy) {}

QueueRunner::~QueueRunner() { stop(); }

std::error_code QueueRunner::recover(TimePoint now) {
  std::vector<std::string> ids;
  if (auto ec = spool_.list_queue(ids)) return ec;
  std::lock_guard lock(mutex_);
  for (std::string& id : ids) {
    entries_.try_emplace(std::move(id), Entry{now, now, 0, true});
  }
  if (!ids.empty()) log::info(kLog, "-", "queue recovered", {{"messages", ids.size()}});
  return {};
}

void QueueRunner::notify_new(std::string id, TimePoint now) {
  {
    std::lock_guard lock(mutex_);
    entries_.try_emplace(std::move(id), Entry{now, now, 0, false});
    notified_ = true;
  }
  wake_.notify_one();
}

std::chrono::milliseconds QueueRunner::backoff(std::uint32_t attempts) const {
  auto delay = policy_.first_retry;
  for (std::uint32_t i = 1; i < attempts && delay < policy_.max_retry; ++i) delay *= 2;
  return std::min(delay, policy_.max_retry);
}

std::optional<QueueRunner::TimePoint> QueueRunner::run_due(TimePoint now) {
  std::vector<std::pair<std::string, Entry>> due;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
      if (entry.due <= now) due.emplace_back(id, entry);
    }
  }
  for (auto& [id, entry] : due) {
    bool finished = attempt(id, entry, now);
    std::lock_guard lock(mutex_);
    if (finished) {
      entries_.erase(id);
    } else {
      entries_[id] = entry;
    }
    if (stopping_) break;
  }
  std::lock_guard lock(mutex_);
  std::optional<TimePoint> next;
  for (const auto& [id, entry] : entries_) {
    if (!next || entry.due < *next) next = entry.due;
  }
  return next;
}

bool QueueRunner::attempt(const std::string& id, Entry& entry, TimePoint now) {
  QueuedMessage message;
  std::vector<DoneRecord> done;
  if (auto ec = spool_.load(id, message, done)) {
    if (ec == std::errc::no_such_file_or_directory) return true;
    log::error(kLog, id, "queue file unreadable, left in place",
               {{"path", spool_.queue_path(id).string()}, {"error", ec.message()}});
    return true;
  }
  // A retry may follow a delivery whose "done" record failed to be written: let the delivery
  // check for an earlier copy exactly as after a crash.
  message.recovered = entry.recovered || entry.attempts > 0;
  std::vector<std::string> pending;
  for (const std::string& rcpt : message.recipients) {
    if (is_done(done, rcpt)) continue;
    DeliveryResult result = delivery_.deliver(message, rcpt);
    if (result.status == DeliveryStatus::temporary_failure) {
      log::warn(kLog, id, "deferred", {{"to", rcpt}, {"reason", result.detail}});
      pending.push_back(rcpt);
      std::lock_guard lock(mutex_);
      ++stats_.deferred;
      continue;
    }
    const bool ok = result.status == DeliveryStatus::delivered;
    if (ok) {
      log::info(kLog, id, "delivered", {{"to", rcpt}, {"where", result.detail}});
    } else {
      log::warn(kLog, id, "delivery failed", {{"to", rcpt}, {"reason", result.detail}});
    }
    if (auto ec = spool_.record_done(id, rcpt, ok ? Outcome::delivered : Outcome::failed)) {
      log::error(kLog, id, "cannot record delivery, will retry", {{"error", ec.message()}});
      pending.push_back(rcpt);
      continue;
    }
    std::lock_guard lock(mutex_);
    ++(ok ? stats_.delivered : stats_.failed);
  }
  if (pending.empty() || now - entry.first_seen >= policy_.give_up_after) {
    for (const std::string& rcpt : pending) {
      log::warn(kLog, id, "delivery failed", {{"to", rcpt}, {"reason", "gave up retrying"}});
      spool_.record_done(id, rcpt, Outcome::failed);
      std::lock_guard lock(mutex_);
      ++stats_.failed;
    }
    if (auto ec = spool_.remove(id)) {
      log::error(kLog, id, "cannot remove queue file", {{"error", ec.message()}});
    }
    std::lock_guard lock(mutex_);
    ++stats_.completed;
    return true;
  }
  ++entry.attempts;
  entry.due = now + backoff(entry.attempts);
  return false;
}

void QueueRunner::start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { worker_loop(); });
}

void QueueRunner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

void QueueRunner::worker_loop() {
  if (auto ec = recover(Clock::now())) {
    log::error(kLog, "-", "queue recovery failed", {{"path", spool_.root().string()},
                                                     {"error", ec.message()}});
  }
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    notified_ = false;
    lock.unlock();
    std::optional<TimePoint> next = run_due(Clock::now());
    lock.lock();
    auto wake = [this] { return stopping_ || notified_; };
    if (next) {
      wake_.wait_until(lock, *next, wake);
    } else {
      wake_.wait(lock, wake);
    }
  }
}

QueueRunner::Stats QueueRunner::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.queued = entries_.size();
  return s;
}

}  // namespace postern::smtp::spool
