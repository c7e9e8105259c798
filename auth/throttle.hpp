// AuthThrottle: slows down and then locks out password guessing, per source (an IPv4 address,
// or an IPv6 /64: one host owns a whole /64, so a full address would be unlimited sources).
// Sans-I/O: time is an argument, nothing here sleeps or reads a clock. Thread-unsafe: callers
// hold their own lock (the tunnel and SMTP each keep one throttle behind a mutex).
//
// Contract, per attempt:
//   reserve(src, now)         before queueing a verification. An attempt in flight counts like
//                             a failure already recorded, so N parallel guesses from one source
//                             are refused once failures + in_flight reaches max_failures.
//   cancelled(src, now)       the verifier asks before running a queued attempt: true once the
//                             source is locked out (the caller then calls release()).
//   record_failure(src, now)  releases the reservation, counts a failure, returns the delay to
//                             hold the failure reply (1 s, 2 s, 4 s... capped); max_failures
//                             inside `window` lock the source out for `lockout`.
//   record_success(src, now)  releases the reservation; the failure history is cleared only if
//                             no other attempt from the source is still in flight (a success
//                             must not wipe the guesses racing it).
//   release(src)              releases a reservation that never ran (cancelled, queue full).
// Memory: at most max_entries sources. A new source evicts the least recently seen entry that
// is neither locked out nor has attempts in flight; if every entry is such, the new source is
// refused (table_full) rather than forgetting a lockout — a flood of fresh sources cannot flush
// the table. Each entry is a few dozen bytes, so the default bounds it well under 1 MiB.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::auth {

// The throttling key of a peer address: IPv4 as is ("192.0.2.7"; a v4-mapped IPv6 address is
// taken as its IPv4), IPv6 as its /64 ("2001:db8:1:2::/64"); anything unparsable as given.
std::string source_key(std::string_view ip);

struct ThrottleLimits {
  std::chrono::milliseconds window{5 * 60 * 1000};   // failures older than this are forgotten
  std::uint32_t max_failures = 10;                    // within window (in flight counted) -> lockout
  std::chrono::milliseconds lockout{5 * 60 * 1000};  // how long a lockout lasts
  std::chrono::milliseconds base_delay{1000};         // delay after the first failure
  std::chrono::milliseconds max_delay{16'000};        // doubling stops here
  std::size_t max_entries = 4096;
};

class AuthThrottle {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  enum class Refusal { none, locked_out, too_many_in_flight, table_full };

  struct Verdict {
    bool allowed = true;
    Refusal refusal = Refusal::none;
    // When locked_out: the lockout ends at this time (tell the client to retry later).
    time_point locked_until{};
  };

  explicit AuthThrottle(ThrottleLimits limits = {}) : limits_(limits) {}

  Verdict reserve(std::string_view source, time_point now);
  bool cancelled(std::string_view source, time_point now);
  std::chrono::milliseconds record_failure(std::string_view source, time_point now);
  void record_success(std::string_view source, time_point now);
  void release(std::string_view source);

  std::size_t size() const { return entries_.size(); }
  std::uint32_t in_flight(std::string_view source) const;
  const ThrottleLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string key;
    std::uint32_t failures = 0;
    std::uint32_t in_flight = 0;
    time_point window_start{};
    time_point locked_until{};
  };
  using Lru = std::list<Entry>;  // front: most recently seen

  Entry* find(const std::string& key);
  Entry* find_or_insert(const std::string& key, time_point now);
  bool evict_one(time_point now);
  void expire_window(Entry& e, time_point now) const;
  static bool pinned(const Entry& e, time_point now) { return e.in_flight > 0 || now < e.locked_until; }
  void forget_if_idle(Entry& e, time_point now);

  ThrottleLimits limits_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> entries_;
};

std::string_view to_string(AuthThrottle::Refusal refusal);

}  // namespace postern::auth
