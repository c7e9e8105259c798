// Sliding one-hour window per user (see rate_limit.hpp). check() never prunes (it is const): it
// skips the expired head of the deque, which record() and the sweep remove later.
#include "smtp/core/rate_limit.hpp"

#include <algorithm>

namespace postern::smtp {
namespace {

constexpr std::chrono::minutes kSweepInterval{1};

// Index of the first element still in the window ending at `now`.
template <typename Window, typename TimePoint, typename Duration>
std::size_t first_live(const Window& window, TimePoint now, Duration span) {
  const auto live = std::find_if(window.begin(), window.end(), [&](const auto& s) { return now - s.at < span; });
  return static_cast<std::size_t>(live - window.begin());
}

}  // namespace

std::string_view to_string(RateLimit limit) {
  switch (limit) {
    case RateLimit::messages_per_hour: return "messages_per_hour";
    case RateLimit::recipients_per_hour: return "recipients_per_hour";
  }
  return "unknown";
}

std::chrono::seconds UserRateLimiter::Verdict::retry_after(TimePoint now) const {
  if (ok()) return std::chrono::seconds{0};
  const auto left = std::chrono::ceil<std::chrono::seconds>(resets_at - now);
  return std::max(left, std::chrono::seconds{1});
}

UserRateLimiter::Verdict UserRateLimiter::check(std::string_view user, std::uint32_t recipients,
                                                TimePoint now) const {
  static const Window empty;
  const auto it = users_.find(std::string(user));
  const Window& window = it == users_.end() ? empty : it->second;
  if (Verdict v = check_messages(window, now); !v.ok()) return v;
  return check_recipients(window, recipients, now);
}

UserRateLimiter::Verdict UserRateLimiter::check_messages(const Window& window, TimePoint now) const {
  const std::uint32_t max = limits_.messages_per_hour;
  if (max == 0) return {};
  const std::size_t first = first_live(window, now, kWindow);
  const std::size_t in_window = window.size() - first;
  if (in_window < max) return {};
  // One more would be in_window + 1 > max: the oldest in_window + 1 - max must age out first.
  return {RateLimit::messages_per_hour, max, window[first + in_window - max].at + kWindow};
}

UserRateLimiter::Verdict UserRateLimiter::check_recipients(const Window& window, std::uint32_t recipients,
                                                           TimePoint now) const {
  const std::uint32_t max = limits_.recipients_per_hour;
  if (max == 0) return {};
  const std::size_t first = first_live(window, now, kWindow);
  if (recipients > max) {
    const TimePoint empty_at = first < window.size() ? window.back().at + kWindow : now;
    return {RateLimit::recipients_per_hour, max, empty_at};
  }
  std::uint64_t used = 0;
  for (std::size_t i = first; i < window.size(); ++i) used += window[i].recipients;
  if (used + recipients <= max) return {};
  for (std::size_t i = first; i < window.size(); ++i) {
    used -= window[i].recipients;
    if (used + recipients <= max) return {RateLimit::recipients_per_hour, max, window[i].at + kWindow};
  }
  return {RateLimit::recipients_per_hour, max, window.back().at + kWindow};  // not reached: recipients <= max
}

void UserRateLimiter::prune(Window& window, TimePoint now) {
  while (!window.empty() && now - window.front().at >= kWindow) window.pop_front();
}

void UserRateLimiter::record(std::string_view user, std::uint32_t recipients, TimePoint now) {
  // Nothing to count against: store nothing (this is what bounds memory without limits).
  if (limits_.messages_per_hour == 0 && (limits_.recipients_per_hour == 0 || recipients == 0)) return;
  Window& window = users_[std::string(user)];
  prune(window, now);
  const TimePoint at = window.empty() ? now : std::max(now, window.back().at);  // keep the deque sorted
  window.push_back({at, recipients});
  if (!next_sweep_ || now >= *next_sweep_) {
    expire(now);
    next_sweep_ = now + kSweepInterval;
  }
}

void UserRateLimiter::expire(TimePoint now) {
  for (auto it = users_.begin(); it != users_.end();) {
    prune(it->second, now);
    it = it->second.empty() ? users_.erase(it) : std::next(it);
  }
}

void UserRateLimiter::note_refusal(std::string_view user, RateLimit limit) {
  ++refusals_[std::string(user)];
  ++refusals_by_limit_[static_cast<int>(limit)];
}

std::vector<std::pair<std::string, std::uint64_t>> UserRateLimiter::refusals() const {
  std::vector<std::pair<std::string, std::uint64_t>> out(refusals_.begin(), refusals_.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace postern::smtp
