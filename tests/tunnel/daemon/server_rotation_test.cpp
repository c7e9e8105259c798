// ServerRotation (which site server the client tries next): a simulated clock and a scripted
// random source, no sockets. Each test plays a sequence of attempt outcomes and checks the
// servers tried and the waits between them.
#include "tunnel/daemon/server_rotation.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace postern::tunnel::daemon {
namespace {

using namespace std::chrono_literals;
using config::ServerOrder;
using TimePoint = ServerRotation::TimePoint;

// A random source that replays `values` and then returns 0; every draw is counted.
struct Script {
  std::deque<std::uint32_t> values;
  int draws = 0;
  ServerRotation::Random source() {
    return [this] {
      ++draws;
      if (values.empty()) return 0u;
      auto v = values.front();
      values.pop_front();
      return v;
    };
  }
};

enum class Outcome { fail, up_and_lost_at_once, up_and_lost_later, refused };

struct Sim {
  Script script;
  ServerRotation rotation;
  TimePoint now{std::chrono::seconds(1000)};
  std::string trace;  // "A B (wait 250ms) A ..."

  Sim(std::size_t n, ServerOrder order, std::deque<std::uint32_t> values = {})
      : script{std::move(values)}, rotation(n, order, RotationTimers{500ms, 4'000ms}, script.source()) {}

  // Plays one attempt; returns false when the rotation gave up.
  bool play(Outcome outcome) {
    auto choice = rotation.next();
    if (!choice) {
      trace += trace.empty() ? "give-up" : " give-up";
      return false;
    }
    if (choice->wait.count() > 0) trace += " (wait " + std::to_string(choice->wait.count()) + "ms)";
    now += choice->wait;
    trace += (trace.empty() ? "" : " ") + std::string(1, static_cast<char>('A' + choice->server));
    rotation.on_attempt(choice->server, now);
    now += 100ms;
    switch (outcome) {
      case Outcome::fail: rotation.on_failed(choice->server, now, "refused"); break;
      case Outcome::refused: rotation.on_refused(choice->server, now, "name mismatch"); break;
      case Outcome::up_and_lost_at_once:
        rotation.on_established(choice->server, now);
        now += 1s;
        rotation.on_lost(choice->server, now, "closed");
        break;
      case Outcome::up_and_lost_later:
        rotation.on_established(choice->server, now);
        now += 60s;
        rotation.on_lost(choice->server, now, "closed");
        break;
    }
    return true;
  }
};

// Jitter draws return 0 here, so each wait is exactly half the backoff: 250, 500, 1000...
TEST(ServerRotation, OrderedTriesEachServerAtOnceThenBacksOffPerRound) {
  Sim sim(3, ServerOrder::ordered);
  for (int i = 0; i < 9; ++i) sim.play(Outcome::fail);
  EXPECT_EQ(sim.trace, "A B C (wait 250ms) A B C (wait 500ms) A B C");
  EXPECT_EQ(sim.rotation.backoff(), 4000ms);  // doubled after each of the 3 rounds, capped
  EXPECT_EQ(sim.rotation.entries()[1].failures, 3u);
  EXPECT_EQ(sim.rotation.entries()[1].state, ServerState::failed);
  EXPECT_EQ(sim.rotation.entries()[1].last_error, "refused");
}

TEST(ServerRotation, BackoffIsCappedAndJittered) {
  // One server; the jitter draws (mod backoff) add 100, 0, 999, 0...
  Sim sim(1, ServerOrder::ordered, {100, 0, 999});
  for (int i = 0; i < 7; ++i) sim.play(Outcome::fail);
  // 500/2+100, 1000/2+0, 2000/2+999, then capped at 4000: 2000 each.
  EXPECT_EQ(sim.trace, "A (wait 350ms) A (wait 500ms) A (wait 1999ms) A (wait 2000ms) A (wait 2000ms) A (wait 2000ms) A");
}

// The failover case: A's session dies, B is tried at once, with no backoff.
TEST(ServerRotation, LostSessionMovesToTheNextServerAtOnce) {
  Sim sim(2, ServerOrder::ordered);
  sim.play(Outcome::up_and_lost_later);  // A
  sim.play(Outcome::fail);               // B at once
  sim.play(Outcome::fail);               // round [A, B] used up: wait, then A
  EXPECT_EQ(sim.trace, "A B (wait 250ms) A");
  EXPECT_EQ(sim.rotation.entries()[0].failures, 2u);
}

TEST(ServerRotation, StableSessionResetsTheBackoff) {
  Sim sim(2, ServerOrder::ordered);
  for (int i = 0; i < 4; ++i) sim.play(Outcome::fail);  // A B (250) A B
  EXPECT_EQ(sim.rotation.backoff(), 2000ms);
  sim.play(Outcome::up_and_lost_later);  // (wait 500) A, up a minute
  EXPECT_EQ(sim.rotation.backoff(), 500ms);
  sim.play(Outcome::up_and_lost_later);  // B at once, up a minute
  sim.play(Outcome::fail);               // A at once: round [B, A]
  sim.play(Outcome::fail);               // round used up: the first backoff, then A again
  EXPECT_EQ(sim.trace, "A B (wait 250ms) A B (wait 500ms) A B A (wait 250ms) A");
}

// A single server keeps the old behaviour: after a lost session, one short wait, then retry.
TEST(ServerRotation, SingleServerWaitsTheFirstBackoffAfterALoss) {
  Sim sim(1, ServerOrder::ordered);
  sim.play(Outcome::up_and_lost_later);
  sim.play(Outcome::fail);
  sim.play(Outcome::fail);
  EXPECT_EQ(sim.trace, "A (wait 250ms) A (wait 500ms) A");
}

// Servers that accept and drop at once count as failures of one round: the pair is not
// hammered in a loop, the backoff grows.
TEST(ServerRotation, FlappingServersStillBackOff) {
  Sim sim(2, ServerOrder::ordered);
  for (int i = 0; i < 6; ++i) sim.play(Outcome::up_and_lost_at_once);
  EXPECT_EQ(sim.trace, "A B (wait 250ms) A B (wait 500ms) A B");
}

TEST(ServerRotation, RandomShufflesEveryRound) {
  // Fisher-Yates over [A, B, C]: draws 1 (i=3 -> swap C,B) and 0 (i=2 -> swap A,C): [C, A, B];
  // then one jitter draw (0); the next round draws 2, 1: [A, B, C] stays.
  Sim sim(3, ServerOrder::random, {1, 0, 0, 2, 1});
  for (int i = 0; i < 6; ++i) sim.play(Outcome::fail);
  EXPECT_EQ(sim.trace, "C A B (wait 250ms) A B C");
}

TEST(ServerRotation, RandomLostServerGoesLastInTheNewRound) {
  // Round 1, draws 0, 0: [A, B, C] -> swap(2, 0) [C, B, A] -> swap(1, 0) [B, C, A].
  // B is up a minute and lost: the new round shuffles the same way, B goes to the front and
  // counts as its first failure, so C and then A are tried at once.
  Sim sim(3, ServerOrder::random, {0, 0, 0, 0});
  sim.play(Outcome::up_and_lost_later);
  sim.play(Outcome::fail);
  sim.play(Outcome::fail);
  EXPECT_EQ(sim.trace, "B C A");
}

TEST(ServerRotation, RefusedServersLeaveTheRotationAndAllRefusedGivesUp) {
  Sim sim(3, ServerOrder::ordered);
  sim.play(Outcome::fail);     // A
  sim.play(Outcome::refused);  // B out
  sim.play(Outcome::fail);     // C
  sim.play(Outcome::fail);     // (wait) A
  sim.play(Outcome::fail);     // C
  EXPECT_EQ(sim.rotation.entries()[1].state, ServerState::refused);
  sim.play(Outcome::refused);  // (wait) A out
  sim.play(Outcome::refused);  // C out
  EXPECT_FALSE(sim.play(Outcome::fail));
  EXPECT_EQ(sim.trace, "A B C (wait 250ms) A C (wait 500ms) A C give-up");
}

TEST(ServerRotation, StatusFieldsFollowTheAttempt) {
  Sim sim(2, ServerOrder::ordered);
  EXPECT_FALSE(sim.rotation.current());
  EXPECT_EQ(sim.rotation.entries()[0].state, ServerState::untried);
  auto choice = sim.rotation.next();
  ASSERT_TRUE(choice);
  sim.rotation.on_attempt(choice->server, sim.now);
  EXPECT_EQ(sim.rotation.current(), 0u);
  EXPECT_EQ(sim.rotation.entries()[0].state, ServerState::connecting);
  sim.rotation.on_established(0, sim.now + 1s);
  EXPECT_EQ(sim.rotation.entries()[0].state, ServerState::up);
  EXPECT_EQ(sim.rotation.entries()[0].since, sim.now + 1s);
  EXPECT_EQ(sim.rotation.entries()[1].state, ServerState::untried);
  EXPECT_EQ(to_string(ServerState::refused), "refused");
}

}  // namespace
}  // namespace postern::tunnel::daemon
