// Happy Eyeballs (RFC 8305) for the client's control connection, as a sans-I/O race: which
// resolved address to try in which order, when to start the next attempt while earlier ones are
// still pending, when an attempt has run out of time, and who won. The client daemon
// (TunnelClient::connect_socket) opens and connects the sockets; nothing here touches one.
// Rules (docs/resilience.md "IPv6 underneath the tunnel"):
//   * Order (RFC 8305 4): the resolver's order (RFC 6724) within each family, the families
//     interleaved, IPv6 first (a host whose IPv6 works uses it; one whose IPv6 blackholes loses
//     only the attempt delay).
//   * Start (RFC 8305 5): the first attempt at once; the next one attempt_delay after the
//     previous one started, or at once when every started attempt has already failed (a refused
//     connection or an unreachable network does not wait out the delay). Earlier attempts stay
//     pending: the first to connect wins and the others are abandoned.
//   * Each attempt is abandoned after attempt_timeout (connect_timeout) without an answer.
//   * The race is lost when every address was tried and none is pending.
// Contract: no clock (times are arguments), no I/O, no allocation after construction except
// the returned action lists; one thread (the client's io_context).
#pragma once

#include "common/ip_address.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace postern::tunnel::daemon {

// RFC 8305 5: 250 ms recommended, at least 100 ms (shorter starves slow paths), at most 2 s.
inline constexpr std::chrono::milliseconds kMinAttemptDelay{100};
inline constexpr std::chrono::milliseconds kMaxAttemptDelay{2000};

// The order to try `addresses` in, as indexes into it: IPv6 and IPv4 interleaved, IPv6 first,
// each family in its given order.
std::vector<std::size_t> interleave_families(std::span<const IpAddress> addresses);

struct RaceTimers {
  std::chrono::milliseconds attempt_delay{250};     // [tunnel] connect_attempt_delay
  std::chrono::milliseconds attempt_timeout{5000};  // [tunnel] connect_timeout
};

class ConnectRace {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // What the caller must do now. Indexes are positions in the tried order (0 = first tried).
  struct Actions {
    std::vector<std::size_t> start;      // open and connect these
    std::vector<std::size_t> timed_out;  // give up on these (close them): attempt_timeout passed
    std::optional<std::size_t> winner;   // this one connected: keep it, close every other pending one
    bool lost = false;                   // nothing connected and nothing is left to try
  };

  ConnectRace(std::size_t attempts, RaceTimers timers);

  Actions begin(TimePoint now);
  // The attempt failed on its own (refused, unreachable, could not open the socket).
  Actions on_failed(std::size_t attempt, TimePoint now);
  Actions on_connected(std::size_t attempt);
  // Call at next_deadline() (or later).
  Actions on_timer(TimePoint now);
  // When on_timer is next due: the next start or the earliest attempt timeout; nullopt once over.
  std::optional<TimePoint> next_deadline() const;

  bool over() const { return over_; }
  std::size_t started() const { return next_; }

 private:
  enum class State { waiting, pending, failed, timed_out, won, abandoned };
  void start_due(TimePoint now, Actions& out);
  void finish_if_lost(Actions& out);
  bool any_pending() const;

  RaceTimers timers_;
  std::vector<State> states_;
  std::vector<TimePoint> started_at_;
  std::size_t next_ = 0;  // the next attempt to start
  TimePoint last_start_{};
  bool over_ = false;
};

}  // namespace postern::tunnel::daemon
