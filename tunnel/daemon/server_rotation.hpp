// The client's choice of which site server to try next ([tunnel] servers, server_order), as a
// sans-I/O decision machine: the client daemon asks next() before each attempt, reports how the
// attempt ended, and waits the Choice's delay. Nothing here resolves, connects or sleeps.
// Rules (docs/configuration.md "Several site servers"):
//   * A round tries every usable server once, in list order ("ordered") or in an order shuffled
//     afresh for each round ("random", from the injected random source).
//   * Within a round the next server is tried at once: a dead server costs only its own connect
//     timeout, never a backoff. The backoff (first_backoff doubling to max_backoff, jitter
//     [0.5, 1.5) x) is waited once, after a round in which every server failed.
//   * A session that comes up resets the backoff. When it is lost, a new round starts with the
//     servers after the lost one (list order, or shuffled), the lost one last: a server that died
//     is left within seconds, and with one server the old behaviour holds (retry after ~0.5 s).
//   * A server that refused us for a reason no retry fixes (its certificate names another host)
//     is dropped from the rotation; when none is left, next() returns nullopt (give up).
// Contract: no clock (times are arguments, kept for `postern status`), no I/O, no global RNG;
// one thread (the client's io_context).
#pragma once

#include "common/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::tunnel::daemon {

enum class ServerState {
  untried,     // not tried since the client started
  connecting,  // an attempt is under way
  up,          // the session through it is established
  failed,      // the last attempt failed, or its session was lost
  refused,     // dropped from the rotation (a failure no retry can fix)
};
std::string_view to_string(ServerState state);

struct RotationTimers {
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
};

class ServerRotation {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Random = std::function<std::uint32_t()>;

  struct Choice {
    std::size_t server = 0;          // index into the configured list
    std::chrono::milliseconds wait{0};  // wait this long before trying it
  };

  struct Entry {
    ServerState state = ServerState::untried;
    std::uint32_t failures = 0;  // attempts that failed and sessions lost, since the start
    std::string last_error;      // why the last attempt failed or the session ended
    std::optional<TimePoint> since;  // when `state` was entered (nullopt: untried)
  };

  ServerRotation(std::size_t servers, config::ServerOrder order, RotationTimers timers, Random random);

  // The server to try next and the delay before it; nullopt when every server is refused.
  std::optional<Choice> next();

  void on_attempt(std::size_t server, TimePoint now);
  // The attempt ended before a session came up.
  void on_failed(std::size_t server, TimePoint now, std::string reason);
  void on_established(std::size_t server, TimePoint now);
  // The established session ended.
  void on_lost(std::size_t server, TimePoint now, std::string reason);
  // Drops the server from the rotation.
  void on_refused(std::size_t server, TimePoint now, std::string reason);

  const std::vector<Entry>& entries() const { return entries_; }
  // The server being tried or in use (nullopt before the first attempt and between attempts).
  std::optional<std::size_t> current() const { return current_; }
  std::chrono::milliseconds backoff() const { return backoff_; }

 private:
  void start_round(std::optional<std::size_t> lost);
  void settle();
  void advance();
  void enter(std::size_t server, ServerState state, TimePoint now, std::string reason);
  std::chrono::milliseconds jittered(std::chrono::milliseconds base);

  std::vector<Entry> entries_;
  config::ServerOrder order_;
  RotationTimers timers_;
  Random random_;
  std::vector<std::size_t> round_;  // this round's order
  std::size_t position_ = 0;        // next index into round_
  std::chrono::milliseconds backoff_;
  std::chrono::milliseconds pending_wait_{0};
  std::optional<std::size_t> current_;
};

}  // namespace postern::tunnel::daemon
