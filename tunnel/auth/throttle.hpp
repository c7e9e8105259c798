// AuthThrottle: slows down and then locks out password guessing, per source address.
// Sans-I/O: time is an argument, nothing here sleeps or reads a clock. The adapter asks
// check() before verifying credentials, then reports the outcome; record_failure() returns
// how long to wait before sending the failure reply (1 s, 2 s, 4 s... capped), and after
// max_failures failures inside `window` the source is locked out for `lockout`.
// Memory is bounded: at most max_entries sources are tracked; inserting beyond that evicts the
// least recently seen source (an attacker rotating addresses only forgets its own entries first
// in the common case, and can never grow the table).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::tunnel::auth {

struct ThrottleLimits {
  std::chrono::milliseconds window{5 * 60 * 1000};   // failures older than this are forgotten
  std::uint32_t max_failures = 10;                    // within window -> lockout
  std::chrono::milliseconds lockout{5 * 60 * 1000};  // how long a lockout lasts
  std::chrono::milliseconds base_delay{1000};         // delay after the first failure
  std::chrono::milliseconds max_delay{16'000};        // doubling stops here
  std::size_t max_entries = 4096;
};

class AuthThrottle {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct Verdict {
    bool allowed = true;
    // When !allowed: the lockout ends at this time (tell the client to retry later).
    time_point locked_until{};
  };

  explicit AuthThrottle(ThrottleLimits limits = {}) : limits_(limits) {}

  // May this source try to authenticate now?
  Verdict check(std::string_view source, time_point now);
  // A failed attempt; returns the delay to apply before the failure reply.
  std::chrono::milliseconds record_failure(std::string_view source, time_point now);
  // A successful attempt clears the source's history.
  void record_success(std::string_view source);

  std::size_t size() const { return entries_.size(); }
  const ThrottleLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string source;
    std::uint32_t failures = 0;
    time_point window_start{};
    time_point locked_until{};
    time_point last_seen{};
  };
  using Lru = std::list<Entry>;  // front: most recently seen

  Entry* find(std::string_view source, time_point now);
  Entry& find_or_insert(std::string_view source, time_point now);
  void expire_window(Entry& e, time_point now) const;

  ThrottleLimits limits_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> entries_;
};

}  // namespace postern::tunnel::auth
