// The Happy Eyeballs race (see happy_eyeballs.hpp).
#include "tunnel/daemon/happy_eyeballs.hpp"

#include <algorithm>

namespace postern::tunnel::daemon {

std::vector<std::size_t> interleave_families(std::span<const IpAddress> addresses) {
  std::vector<std::size_t> v6, v4, out;
  for (std::size_t i = 0; i < addresses.size(); ++i) (addresses[i].is_v6() ? v6 : v4).push_back(i);
  out.reserve(addresses.size());
  for (std::size_t k = 0; k < std::max(v6.size(), v4.size()); ++k) {
    if (k < v6.size()) out.push_back(v6[k]);
    if (k < v4.size()) out.push_back(v4[k]);
  }
  return out;
}

ConnectRace::ConnectRace(std::size_t attempts, RaceTimers timers)
    : timers_(timers), states_(attempts, State::waiting), started_at_(attempts) {}

bool ConnectRace::any_pending() const {
  return std::find(states_.begin(), states_.end(), State::pending) != states_.end();
}

void ConnectRace::start_due(TimePoint now, Actions& out) {
  if (over_ || next_ >= states_.size()) return;
  // RFC 8305 5: wait the attempt delay after the last start, unless nothing is pending any more.
  if (any_pending() && now < last_start_ + timers_.attempt_delay) return;
  states_[next_] = State::pending;
  started_at_[next_] = now;
  last_start_ = now;
  out.start.push_back(next_++);
}

void ConnectRace::finish_if_lost(Actions& out) {
  if (over_ || any_pending() || next_ < states_.size()) return;
  over_ = true;
  out.lost = true;
}

ConnectRace::Actions ConnectRace::begin(TimePoint now) {
  Actions out;
  start_due(now, out);
  finish_if_lost(out);  // no address at all
  return out;
}

ConnectRace::Actions ConnectRace::on_failed(std::size_t attempt, TimePoint now) {
  Actions out;
  if (over_ || attempt >= states_.size() || states_[attempt] != State::pending) return out;
  states_[attempt] = State::failed;
  start_due(now, out);
  finish_if_lost(out);
  return out;
}

ConnectRace::Actions ConnectRace::on_connected(std::size_t attempt) {
  Actions out;
  if (over_ || attempt >= states_.size() || states_[attempt] != State::pending) return out;
  for (auto& s : states_) {
    if (s == State::pending) s = State::abandoned;
  }
  states_[attempt] = State::won;
  over_ = true;
  out.winner = attempt;
  return out;
}

ConnectRace::Actions ConnectRace::on_timer(TimePoint now) {
  Actions out;
  if (over_) return out;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (states_[i] == State::pending && now >= started_at_[i] + timers_.attempt_timeout) {
      states_[i] = State::timed_out;
      out.timed_out.push_back(i);
    }
  }
  start_due(now, out);
  finish_if_lost(out);
  return out;
}

std::optional<ConnectRace::TimePoint> ConnectRace::next_deadline() const {
  if (over_) return std::nullopt;
  std::optional<TimePoint> at;
  auto earliest = [&at](TimePoint t) { at = at ? std::min(*at, t) : t; };
  if (next_ < states_.size()) earliest(last_start_ + timers_.attempt_delay);
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (states_[i] == State::pending) earliest(started_at_[i] + timers_.attempt_timeout);
  }
  return at;
}

}  // namespace postern::tunnel::daemon
