// AuthThrottle (see throttle.hpp).
#include "tunnel/auth/throttle.hpp"

#include <algorithm>

namespace postern::tunnel::auth {

AuthThrottle::Entry* AuthThrottle::find(std::string_view source, time_point now) {
  auto it = entries_.find(std::string(source));
  if (it == entries_.end()) return nullptr;
  // Touch: move to the front of the LRU list.
  lru_.splice(lru_.begin(), lru_, it->second);
  it->second->last_seen = now;
  return &*it->second;
}

AuthThrottle::Entry& AuthThrottle::find_or_insert(std::string_view source, time_point now) {
  if (Entry* e = find(source, now)) return *e;
  while (!lru_.empty() && entries_.size() >= std::max<std::size_t>(limits_.max_entries, 1)) {
    entries_.erase(lru_.back().source);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::string(source), 0, now, {}, now});
  entries_.emplace(lru_.front().source, lru_.begin());
  return lru_.front();
}

void AuthThrottle::expire_window(Entry& e, time_point now) const {
  if (e.failures > 0 && now - e.window_start >= limits_.window) {
    e.failures = 0;
    e.window_start = now;
  }
}

AuthThrottle::Verdict AuthThrottle::check(std::string_view source, time_point now) {
  Entry* e = find(source, now);
  if (e == nullptr) return {};
  if (now < e->locked_until) return {false, e->locked_until};
  expire_window(*e, now);
  return {};
}

std::chrono::milliseconds AuthThrottle::record_failure(std::string_view source, time_point now) {
  Entry& e = find_or_insert(source, now);
  expire_window(e, now);
  if (e.failures == 0) e.window_start = now;
  ++e.failures;
  if (e.failures >= limits_.max_failures) {
    e.locked_until = now + limits_.lockout;
    // The lockout starts a fresh window: after it ends the source gets max_failures more tries.
    e.failures = 0;
    e.window_start = e.locked_until;
  }
  // Exponential backoff: base * 2^(failures-1), capped. A lockout reply gets the cap.
  std::uint32_t shift = e.failures == 0 ? 31 : std::min<std::uint32_t>(e.failures - 1, 31);
  auto delay = limits_.base_delay;
  for (std::uint32_t i = 0; i < shift && delay < limits_.max_delay; ++i) delay *= 2;
  return std::min(delay, limits_.max_delay);
}

void AuthThrottle::record_success(std::string_view source) {
  auto it = entries_.find(std::string(source));
  if (it == entries_.end()) return;
  // A success does not lift an active lockout (check() refused before verification anyway).
  lru_.erase(it->second);
  entries_.erase(it);
}

}  // namespace postern::tunnel::auth
