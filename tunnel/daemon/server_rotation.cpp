// The client's server rotation (see server_rotation.hpp).
#include "tunnel/daemon/server_rotation.hpp"

#include <algorithm>
#include <utility>

namespace postern::tunnel::daemon {
namespace {

// A session shorter than this does not reset the backoff or start a fresh round when it ends:
// a pair of servers that accept and drop us at once must not be hammered in a tight loop.
constexpr auto kStableSession = std::chrono::seconds(10);

}  // namespace

std::string_view to_string(ServerState state) {
  switch (state) {
    case ServerState::untried: return "untried";
    case ServerState::connecting: return "connecting";
    case ServerState::up: return "up";
    case ServerState::failed: return "failed";
    case ServerState::refused: return "refused";
  }
  return "untried";
}

ServerRotation::ServerRotation(std::size_t servers, config::ServerOrder order, RotationTimers timers, Random random)
    : entries_(servers), order_(order), timers_(timers), random_(std::move(random)), backoff_(timers.first_backoff) {
  start_round(std::nullopt);
}

void ServerRotation::start_round(std::optional<std::size_t> lost) {
  round_.clear();
  position_ = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].state != ServerState::refused) round_.push_back(i);
  }
  if (order_ == config::ServerOrder::random) {
    for (std::size_t i = round_.size(); i > 1; --i) std::swap(round_[i - 1], round_[random_() % i]);
  }
  if (!lost) return;
  // The lost server opens the round and counts as its first failure: the others come next.
  auto it = std::find(round_.begin(), round_.end(), *lost);
  if (it == round_.end()) return;
  if (order_ == config::ServerOrder::ordered) std::rotate(round_.begin(), it, round_.end());
  else std::iter_swap(round_.begin(), it);
  position_ = 1;
}

std::chrono::milliseconds ServerRotation::jittered(std::chrono::milliseconds base) {
  // [0.5, 1.5) x base, so a site's laptops do not come back in lockstep after an outage.
  const auto span = static_cast<std::uint32_t>(std::max<std::int64_t>(1, base.count()));
  return std::chrono::milliseconds(base.count() / 2 + random_() % span);
}

// Moves to the first usable server at or after position_; a used-up round costs one backoff.
void ServerRotation::settle() {
  while (position_ < round_.size() && entries_[round_[position_]].state == ServerState::refused) ++position_;
  if (position_ < round_.size()) return;
  pending_wait_ = jittered(backoff_);
  backoff_ = std::min(backoff_ * 2, timers_.max_backoff);
  start_round(std::nullopt);  // holds no refused server
}

void ServerRotation::advance() {
  ++position_;
  settle();
}

std::optional<ServerRotation::Choice> ServerRotation::next() {
  settle();
  if (round_.empty()) return std::nullopt;
  Choice choice{round_[position_], pending_wait_};
  pending_wait_ = std::chrono::milliseconds(0);
  return choice;
}

void ServerRotation::enter(std::size_t server, ServerState state, TimePoint now, std::string reason) {
  Entry& e = entries_.at(server);
  e.state = state;
  e.since = now;
  if (!reason.empty()) e.last_error = std::move(reason);
}

void ServerRotation::on_attempt(std::size_t server, TimePoint now) {
  current_ = server;
  enter(server, ServerState::connecting, now, {});
}

void ServerRotation::on_failed(std::size_t server, TimePoint now, std::string reason) {
  ++entries_.at(server).failures;
  enter(server, ServerState::failed, now, std::move(reason));
  current_.reset();
  advance();
}

void ServerRotation::on_established(std::size_t server, TimePoint now) {
  current_ = server;
  enter(server, ServerState::up, now, {});
}

void ServerRotation::on_lost(std::size_t server, TimePoint now, std::string reason) {
  const bool stable = entries_.at(server).since && now - *entries_[server].since >= kStableSession;
  ++entries_[server].failures;
  enter(server, ServerState::failed, now, std::move(reason));
  current_.reset();
  if (!stable) {
    advance();
    return;
  }
  backoff_ = timers_.first_backoff;
  start_round(server);
  settle();  // the only server: wait the first backoff, then retry it
}

void ServerRotation::on_refused(std::size_t server, TimePoint now, std::string reason) {
  ++entries_.at(server).failures;
  enter(server, ServerState::refused, now, std::move(reason));
  current_.reset();
  advance();
}

}  // namespace postern::tunnel::daemon
