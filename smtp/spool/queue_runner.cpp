// The queue runner (see queue_runner.hpp): scheduling, attempts and their durable records,
// operator verbs and the worker thread. Bounce creation is in queue_bounce.cpp.
#include "smtp/spool/queue_runner.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <random>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kLog = "smtp";
constexpr std::string_view kGiveUp = "queue lifetime exceeded";
constexpr int kMaxPassesPerRun = 4;  // a pass can make a bounce due; never loop for ever

}  // namespace

QueueRunner::QueueRunner(Spool& spool, Delivery& delivery, RetryPolicy policy, Random random)
    : spool_(spool), delivery_(delivery), policy_(std::move(policy)), random_(std::move(random)) {}

QueueRunner::~QueueRunner() { stop(); }

QueueRunner::Random QueueRunner::seeded_random(std::uint32_t seed) {
  auto engine = std::make_shared<std::mt19937>(seed);
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

std::error_code QueueRunner::recover(TimePoint now) {
  std::vector<std::string> ids;
  if (auto ec = spool_.list_queue(ids)) return ec;
  std::size_t held = 0;
  for (std::string& id : ids) {
    Entry entry{now, now, true, false};
    QueuedMessage message;
    std::vector<QueueRecord> records;
    // Unreadable: scheduled now anyway, so attempt() logs it where operators look.
    if (!spool_.load(id, message, records)) {
      const MessageState state = build_message_state(message, records);
      entry.queued_at = message.queued_at;
      entry.held = state.held;
      if (state.next_attempt && *state.next_attempt > now) entry.due = *state.next_attempt;
      held += state.held ? 1 : 0;
    }
    std::lock_guard lock(mutex_);
    entries_.try_emplace(std::move(id), entry);
  }
  if (!ids.empty()) {
    log::info(kLog, "-", "queue_recovered", {{"messages", ids.size()}, {"held", held}});
  }
  return {};
}

void QueueRunner::notify_new(std::string id, TimePoint now) {
  {
    std::lock_guard lock(mutex_);
    entries_.try_emplace(std::move(id), Entry{now, now, false, false});
    notified_ = true;
  }
  wake_.notify_one();
}

std::chrono::milliseconds QueueRunner::backoff(std::uint32_t attempts) {
  auto delay = policy_.retry_min;
  for (std::uint32_t i = 1; i < attempts && delay < policy_.retry_max; ++i) delay *= 2;
  delay = std::min(delay, policy_.retry_max);
  if (!random_) return delay;
  const double r = std::clamp(random_(), 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(delay.count()) * (0.8 + 0.4 * r)));
}

std::vector<std::string> QueueRunner::due_ids(TimePoint now) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> due;
  for (const auto& [id, entry] : entries_) {
    if (!entry.held && entry.due <= now) due.push_back(id);
  }
  return due;
}

std::optional<QueueRunner::TimePoint> QueueRunner::run_due(TimePoint now) {
  apply_commands(now);
  for (int pass = 0; pass < kMaxPassesPerRun; ++pass) {
    std::vector<std::string> due = due_ids(now);
    if (due.empty()) break;
    for (const std::string& id : due) {
      Entry entry;
      {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        if (it == entries_.end()) continue;
        entry = it->second;
      }
      const bool finished = attempt(id, entry, now);
      std::lock_guard lock(mutex_);
      if (finished) {
        entries_.erase(id);
      } else if (auto it = entries_.find(id); it != entries_.end()) {
        it->second = entry;
      }
      if (stopping_) break;
    }
  }
  delivery_.idle();
  std::lock_guard lock(mutex_);
  std::optional<TimePoint> next;
  for (const auto& [id, entry] : entries_) {
    if (!entry.held && (!next || entry.due < *next)) next = entry.due;
  }
  return next;
}

bool QueueRunner::attempt(const std::string& id, Entry& entry, TimePoint now) {
  QueuedMessage message;
  std::vector<QueueRecord> records;
  if (auto ec = spool_.load(id, message, records)) {
    if (ec == std::errc::no_such_file_or_directory) return true;
    log::error(kLog, id, "queue_file_unreadable",
               {{"path", spool_.queue_path(id).string()}, {"error", ec.message()}, {"effect", "left in place"}});
    return true;
  }
  MessageState state = build_message_state(message, records);
  entry.queued_at = message.queued_at;
  if (state.held) {
    entry.held = true;
    return false;
  }
  // A retry may follow a delivery whose record failed to be written: let the delivery check
  // for an earlier copy exactly as after a crash.
  message.recovered = entry.recovered || state.attempts > 0;
  std::vector<std::string> pending;
  for (const RecipientState& r : state.recipients) {
    if (r.status == RecipientStatus::pending) pending.push_back(r.address);
  }
  if (!pending.empty()) {
    std::vector<DeliveryResult> results = delivery_.deliver(message, pending);
    if (results.size() != pending.size()) {
      log::error(kLog, id, "delivery_result_mismatch",
                 {{"expected", pending.size()}, {"got", results.size()}});
      results.resize(pending.size(), make_result(DeliveryStatus::temporary_failure, "internal error"));
    }
    std::vector<QueueRecord> batch;
    record_results(message, pending, results, now, batch);
    bool left_pending = false;
    for (const QueueRecord& r : batch) left_pending = left_pending || r.type == RecordType::deferred;
    TimePoint next = now;
    if (left_pending) {
      next = now + backoff(state.attempts + 1);
      batch.push_back(QueueRecord::attempt(now, next));
    }
    if (auto ec = spool_.append_records(id, batch)) {
      log::error(kLog, id, "record_outcomes_failed", {{"error", ec.message()}, {"effect", "will retry"}});
      entry.recovered = true;  // some may have been delivered: the repeat must check
      entry.due = now + backoff(state.attempts + 1);
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < pending.size(); ++i) {  // batch[i] is pending[i]'s record
        switch (batch[i].type) {
          case RecordType::delivered:
            ++(results[i].remote_mta.empty() ? stats_.delivered : stats_.relayed);
            break;
          case RecordType::deferred: ++stats_.deferred; break;
          default: ++stats_.failed; break;
        }
      }
    }
    records.insert(records.end(), batch.begin(), batch.end());
    state = build_message_state(message, records);
    if (left_pending) {
      entry.due = next;
      return false;
    }
  }
  if (finish(message, state, now)) return true;
  entry.due = now + policy_.retry_min;  // the bounce could not be stored: try again
  return false;
}

// One record per result, logged; a temporary failure past the lifetime becomes a failure.
void QueueRunner::record_results(const QueuedMessage& message, std::span<const std::string> pending,
                                 std::vector<DeliveryResult>& results, TimePoint now,
                                 std::vector<QueueRecord>& batch) {
  const bool expired = now - message.queued_at >= policy_.lifetime;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const std::string& rcpt = pending[i];
    DeliveryResult& r = results[i];
    if (r.status == DeliveryStatus::delivered) {
      if (r.remote_mta.empty()) {
        log::info(kLog, message.id, "delivered", {{"to", rcpt}, {"where", r.detail}});
      } else {
        log::info(kLog, message.id, "relayed",
                  {{"to", rcpt}, {"relay", r.remote_mta}, {"reply", r.remote_reply}});
      }
      batch.push_back(QueueRecord::delivered(rcpt));
      continue;
    }
    if (r.status == DeliveryStatus::temporary_failure && !expired) {
      log::warn(kLog, message.id, "deferred", {{"to", rcpt}, {"reason", r.detail}});
      batch.push_back(QueueRecord::deferred(rcpt, r.detail));
      continue;
    }
    QueueRecord failed;
    failed.type = RecordType::failed;
    failed.recipient = rcpt;
    failed.at = now;
    failed.remote_mta = r.remote_mta;
    failed.remote_reply = r.remote_reply;
    if (r.status == DeliveryStatus::temporary_failure) {
      // RFC 3463 X.4.7: delivery time expired; the last temporary error goes along.
      failed.status_code = "5.4.7";
      failed.reason = std::string(kGiveUp) + " (last error: " + r.detail + ")";
    } else {
      failed.status_code = r.status_code.empty() ? "5.0.0" : r.status_code;
      failed.reason = r.detail;
    }
    log::warn(kLog, message.id, "failed",
              {{"to", rcpt}, {"status", failed.status_code}, {"reason", failed.reason}});
    batch.push_back(std::move(failed));
  }
}

bool QueueRunner::finish(const QueuedMessage& message, const MessageState& state, TimePoint now) {
  if (!store_bounce(message, state, now)) return false;
  if (auto ec = spool_.remove(message.id)) {
    log::error(kLog, message.id, "queue_file_remove_failed", {{"error", ec.message()}});
  }
  std::lock_guard lock(mutex_);
  ++stats_.completed;
  return true;
}

bool QueueRunner::enqueue(Verb verb, const std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (!entries_.contains(id)) return false;
    commands_.push_back({verb, id});
    notified_ = true;
  }
  wake_.notify_one();
  return true;
}

bool QueueRunner::retry_now(const std::string& id) { return enqueue(Verb::retry, id); }
bool QueueRunner::hold(const std::string& id) { return enqueue(Verb::hold, id); }
bool QueueRunner::release(const std::string& id) { return enqueue(Verb::release, id); }
bool QueueRunner::remove(const std::string& id) { return enqueue(Verb::remove, id); }

std::size_t QueueRunner::retry_all() {
  std::size_t n = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, entry] : entries_) {
      commands_.push_back({Verb::retry, id});
      ++n;
    }
    notified_ = true;
  }
  wake_.notify_one();
  return n;
}

void QueueRunner::apply_commands(TimePoint now) {
  std::vector<Command> commands;
  {
    std::lock_guard lock(mutex_);
    commands.swap(commands_);
  }
  for (const Command& c : commands) apply(c, now);
}

void QueueRunner::apply(const Command& c, TimePoint now) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(c.id);
    if (it == entries_.end()) return;  // finished meanwhile
    if (c.verb == Verb::retry) {
      it->second.due = now;
      log::info(kLog, c.id, "retry_requested", {{"held", it->second.held ? "yes" : "no"}});
      return;
    }
  }
  if (c.verb == Verb::remove) {
    if (auto ec = spool_.remove(c.id)) {
      log::error(kLog, c.id, "queue_file_remove_failed", {{"error", ec.message()}});
      return;
    }
    log::warn(kLog, c.id, "removed", {{"by", "operator"}, {"bounce", "none"}});
    std::lock_guard lock(mutex_);
    entries_.erase(c.id);
    return;
  }
  const bool hold = c.verb == Verb::hold;
  const QueueRecord record = hold ? QueueRecord::held(now) : QueueRecord::released(now);
  if (auto ec = spool_.append_records(c.id, std::span(&record, 1))) {
    log::error(kLog, c.id, hold ? log::EventName("hold_failed") : log::EventName("release_failed"),
               {{"error", ec.message()}});
    return;
  }
  log::info(kLog, c.id, hold ? log::EventName("held") : log::EventName("released"), {{"by", "operator"}});
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(c.id); it != entries_.end()) {
    it->second.held = hold;
    if (!hold) it->second.due = now;
  }
}

std::vector<MessageSnapshot> QueueRunner::list() const {
  std::vector<MessageSnapshot> out;
  if (auto ec = list_queue_snapshot(spool_, out)) {
    log::error(kLog, "-", "queue_list_failed", {{"error", ec.message()}});
    return out;
  }
  std::lock_guard lock(mutex_);
  for (MessageSnapshot& s : out) {
    auto it = entries_.find(s.id);
    if (it == entries_.end()) continue;
    s.held = it->second.held;
    s.next_attempt = s.held ? std::nullopt : std::optional<TimePoint>(it->second.due);
  }
  return out;
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
    log::error(kLog, "-", "queue_recovery_failed", {{"path", spool_.root().string()},
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
  for (const auto& [id, entry] : entries_) {
    if (!s.oldest_queued_at || entry.queued_at < *s.oldest_queued_at) {
      s.oldest_queued_at = entry.queued_at;
    }
  }
  return s;
}

}  // namespace postern::smtp::spool
