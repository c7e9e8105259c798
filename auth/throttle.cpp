// AuthThrottle (see throttle.hpp).
#include "auth/throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace postern::auth {

std::string source_key(std::string_view ip) {
  std::string text(ip);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return text;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(v6.s6_addr, kMapped.data(), kMapped.size()) == 0) {
    std::memcpy(&v4, v6.s6_addr + 12, 4);
    return inet_ntop(AF_INET, &v4, buf, sizeof buf);
  }
  std::memset(v6.s6_addr + 8, 0, 8);  // the /64
  return std::string(inet_ntop(AF_INET6, &v6, buf, sizeof buf)) + "/64";
}

std::string_view to_string(AuthThrottle::Refusal refusal) {
  switch (refusal) {
    case AuthThrottle::Refusal::none: return "none";
    case AuthThrottle::Refusal::locked_out: return "too many failures from this address";
    case AuthThrottle::Refusal::too_many_in_flight: return "too many attempts in flight from this address";
    case AuthThrottle::Refusal::table_full: return "throttle table full of locked-out sources";
  }
  return "unknown";
}

AuthThrottle::Entry* AuthThrottle::find(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);  // touch
  return &*it->second;
}

// The oldest entry that holds no lockout and no attempt in flight goes; pinned entries are never
// dropped for a fresh source.
bool AuthThrottle::evict_one(time_point now) {
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (pinned(*it, now)) continue;
    entries_.erase(it->key);
    lru_.erase(std::next(it).base());
    return true;
  }
  return false;
}

AuthThrottle::Entry* AuthThrottle::find_or_insert(const std::string& key, time_point now) {
  if (Entry* e = find(key)) return e;
  while (entries_.size() >= std::max<std::size_t>(limits_.max_entries, 1)) {
    if (!evict_one(now)) return nullptr;
  }
  lru_.push_front(Entry{key, 0, 0, now, {}});
  entries_.emplace(key, lru_.begin());
  return &lru_.front();
}

void AuthThrottle::expire_window(Entry& e, time_point now) const {
  if (e.failures > 0 && now - e.window_start >= limits_.window) {
    e.failures = 0;
    e.window_start = now;
  }
}

void AuthThrottle::forget_if_idle(Entry& e, time_point now) {
  if (e.failures != 0 || pinned(e, now)) return;
  auto it = entries_.find(e.key);
  lru_.erase(it->second);
  entries_.erase(it);
}

AuthThrottle::Verdict AuthThrottle::reserve(std::string_view source, time_point now) {
  Entry* e = find_or_insert(source_key(source), now);
  if (e == nullptr) return {false, Refusal::table_full, {}};
  if (now < e->locked_until) return {false, Refusal::locked_out, e->locked_until};
  expire_window(*e, now);
  if (e->failures + e->in_flight >= std::max<std::uint32_t>(limits_.max_failures, 1)) {
    return {false, Refusal::too_many_in_flight, {}};
  }
  ++e->in_flight;
  return {};
}

bool AuthThrottle::cancelled(std::string_view source, time_point now) {
  Entry* e = find(source_key(source));
  return e != nullptr && now < e->locked_until;
}

void AuthThrottle::release(std::string_view source) {
  auto it = entries_.find(source_key(source));
  if (it == entries_.end()) return;
  Entry& e = *it->second;
  if (e.in_flight > 0) --e.in_flight;
}

std::uint32_t AuthThrottle::in_flight(std::string_view source) const {
  auto it = entries_.find(source_key(source));
  return it == entries_.end() ? 0 : it->second->in_flight;
}

std::chrono::milliseconds AuthThrottle::record_failure(std::string_view source, time_point now) {
  Entry* e = find_or_insert(source_key(source), now);
  if (e == nullptr) return limits_.max_delay;  // untracked (table full): the slowest reply
  if (e->in_flight > 0) --e->in_flight;
  expire_window(*e, now);
  if (e->failures == 0) e->window_start = now;
  ++e->failures;
  if (e->failures >= limits_.max_failures) {
    e->locked_until = now + limits_.lockout;
    // The lockout starts a fresh window: after it ends the source gets max_failures more tries.
    e->failures = 0;
    e->window_start = e->locked_until;
  }
  // Exponential backoff: base * 2^(failures-1), capped. A lockout reply gets the cap.
  std::uint32_t shift = e->failures == 0 ? 31 : std::min<std::uint32_t>(e->failures - 1, 31);
  auto delay = limits_.base_delay;
  for (std::uint32_t i = 0; i < shift && delay < limits_.max_delay; ++i) delay *= 2;
  return std::min(delay, limits_.max_delay);
}

void AuthThrottle::record_success(std::string_view source, time_point now) {
  Entry* e = find(source_key(source));
  if (e == nullptr) return;
  if (e->in_flight > 0) --e->in_flight;
  // A success does not lift an active lockout, nor wipe the history of guesses still racing it.
  if (e->in_flight == 0 && now >= e->locked_until) e->failures = 0;
  forget_if_idle(*e, now);
}

}  // namespace postern::auth
