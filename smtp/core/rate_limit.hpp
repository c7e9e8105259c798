// Per-user hourly submission limits: messages per hour and recipients per hour, over a sliding
// one-hour window. The session asks check() at MAIL FROM (one recipient) and at each RCPT TO (the
// transaction's recipients so far), and the daemon calls record() when a message is accepted;
// a refusal becomes a 450/452 4.7.1 reply written by the session.
//
// Window: exact, not bucketed. Each user has a deque of (time, recipients), one element per
// recorded message, oldest first; an element counts while now - time < 1 h, so a message
// recorded at t stops counting at exactly t + 1 h. Elements are pruned when that user is
// recorded, and every user whose window is empty is dropped by a sweep that record() runs at
// most once a minute (or expire()), so memory is bounded by what the last hour holds: per user
// at most messages_per_hour elements (or recipients_per_hour, each message having at least one)
// as long as record() follows a passing check(). With both limits 0, nothing is stored.
// Refusal counters (for `postern status`) live apart from the window and are never dropped;
// there is one per user who was ever refused, bounded by the users and certificates known.
// Contract: time is an argument (steady clock: a wall-clock step must not reopen or freeze a
// window); never reads a clock, never throws after construction. Not thread-safe: the caller
// serialises (the SMTP sessions share one limiter behind a mutex or a strand).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace postern::smtp {

struct RateLimits {
  std::uint32_t messages_per_hour = 0;    // 0 = no limit
  std::uint32_t recipients_per_hour = 0;  // 0 = no limit
};

enum class RateLimit { messages_per_hour, recipients_per_hour };
std::string_view to_string(RateLimit limit);  // "messages_per_hour", "recipients_per_hour"

class UserRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  static constexpr Clock::duration kWindow = std::chrono::hours(1);

  struct Verdict {
    std::optional<RateLimit> exceeded;  // nullopt: within both limits (messages checked first)
    std::uint32_t limit = 0;            // the configured value of the exceeded limit
    // The earliest time the same message would fit. If it can never fit (more recipients than
    // recipients_per_hour on its own), the time the window is empty: the best there will be.
    TimePoint resets_at{};
    bool ok() const { return !exceeded; }
    // resets_at - now rounded up to whole seconds (at least 1 s when refused), for the reply/log.
    std::chrono::seconds retry_after(TimePoint now) const;
  };

  explicit UserRateLimiter(RateLimits limits = {}) : limits_(limits) {}

  // Would one more message from `user` with `recipients` recipients exceed a limit in the hour
  // ending at `now`? Does not change any state (and counts nothing: see note_refusal()).
  Verdict check(std::string_view user, std::uint32_t recipients, TimePoint now) const;
  // `user` had a message with `recipients` recipients accepted at `now`. Times must not go
  // backwards per limiter (the steady clock's promise); an earlier time is treated as `now` of
  // the newest element.
  void record(std::string_view user, std::uint32_t recipients, TimePoint now);
  // The session refused a command of `user` because of `limit`: counted for status.
  void note_refusal(std::string_view user, RateLimit limit);
  // Drops every user with nothing in the window ending at `now`.
  void expire(TimePoint now);

  // Refusals per user since start (both limits together), sorted by user name.
  std::vector<std::pair<std::string, std::uint64_t>> refusals() const;
  std::uint64_t refusals(RateLimit limit) const { return refusals_by_limit_[static_cast<int>(limit)]; }
  // Users with something in their window (as of the last prune): memory in use, for tests/status.
  std::size_t tracked_users() const { return users_.size(); }
  const RateLimits& limits() const { return limits_; }

 private:
  struct Sent {
    TimePoint at;
    std::uint32_t recipients;
  };
  using Window = std::deque<Sent>;

  static void prune(Window& window, TimePoint now);
  Verdict check_messages(const Window& window, TimePoint now) const;
  Verdict check_recipients(const Window& window, std::uint32_t recipients, TimePoint now) const;

  RateLimits limits_;
  std::unordered_map<std::string, Window> users_;
  std::optional<TimePoint> next_sweep_;
  std::unordered_map<std::string, std::uint64_t> refusals_;
  std::uint64_t refusals_by_limit_[2] = {0, 0};
};

}  // namespace postern::smtp
