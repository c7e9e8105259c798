// The Happy Eyeballs race (RFC 8305) with a simulated clock: the address order, when each
// attempt starts, timeouts, failures and the winner. No sockets.
#include "tunnel/daemon/happy_eyeballs.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace postern::tunnel::daemon {
namespace {

using namespace std::chrono_literals;
using TimePoint = ConnectRace::TimePoint;
using std::chrono::milliseconds;

std::vector<IpAddress> addresses(std::initializer_list<const char*> texts) {
  std::vector<IpAddress> out;
  for (const char* t : texts) out.push_back(*IpAddress::parse(t));
  return out;
}

TEST(HappyEyeballsTest, InterleavesFamiliesIpv6First) {
  const auto a = addresses({"192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "2001:db8::3"});
  EXPECT_EQ(interleave_families(a), (std::vector<std::size_t>{2, 0, 3, 1, 4}));
  EXPECT_EQ(interleave_families(addresses({"192.0.2.1", "192.0.2.2"})), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(interleave_families(addresses({"2001:db8::1", "192.0.2.1"})), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(interleave_families(addresses({"192.0.2.1", "2001:db8::1", "192.0.2.2", "192.0.2.3"})),
            (std::vector<std::size_t>{1, 0, 2, 3}));
  EXPECT_TRUE(interleave_families({}).empty());
}

// How each attempt (in tried order) ends, counted from its own start: connects after `after`,
// fails after `after` (refused, unreachable), or never answers.
struct Path {
  enum Kind { connects, fails, silent } kind;
  milliseconds after{0};
};

struct Outcome {
  std::optional<std::size_t> winner;
  milliseconds at{0};                    // when the race ended
  std::vector<milliseconds> starts;      // when each attempt started
  std::vector<std::size_t> timed_out;
  bool lost = false;
};

// Drives a race to its end, delivering each path's answer at its time and the timer at
// next_deadline(), whichever comes first.
Outcome run(const std::vector<Path>& paths, RaceTimers timers = {250ms, 5000ms}) {
  const TimePoint t0{std::chrono::seconds(100)};
  ConnectRace race(paths.size(), timers);
  Outcome out;
  std::map<TimePoint, std::size_t> answers;  // answer time -> attempt (distinct by construction below)
  auto apply = [&](const ConnectRace::Actions& a, TimePoint now) {
    for (std::size_t i : a.start) {
      out.starts.push_back(std::chrono::duration_cast<milliseconds>(now - t0));
      if (paths[i].kind != Path::silent) answers.emplace(now + paths[i].after + std::chrono::microseconds(i), i);
    }
    for (std::size_t i : a.timed_out) out.timed_out.push_back(i);
    if (a.winner) out.winner = a.winner;
    if (a.lost) out.lost = true;
    if (a.winner || a.lost) out.at = std::chrono::duration_cast<milliseconds>(now - t0);
  };
  apply(race.begin(t0), t0);
  for (int steps = 0; steps < 100 && !race.over(); ++steps) {
    auto deadline = race.next_deadline();
    EXPECT_TRUE(deadline.has_value());
    if (!deadline) break;
    if (!answers.empty() && answers.begin()->first <= *deadline) {
      auto [when, i] = *answers.begin();
      answers.erase(answers.begin());
      apply(paths[i].kind == Path::connects ? race.on_connected(i) : race.on_failed(i, when), when);
    } else {
      apply(race.on_timer(*deadline), *deadline);
    }
  }
  EXPECT_TRUE(race.over());
  EXPECT_FALSE(race.next_deadline().has_value());
  return out;
}

TEST(HappyEyeballsTest, BlackholedIpv6LosesOnlyTheAttemptDelay) {
  // [v6 silent, v4 connects in 5 ms]: the v4 attempt starts at 250 ms and wins at 255 ms.
  auto o = run({{Path::silent}, {Path::connects, 5ms}});
  ASSERT_TRUE(o.winner);
  EXPECT_EQ(*o.winner, 1U);
  EXPECT_EQ(o.starts, (std::vector<milliseconds>{0ms, 250ms}));
  EXPECT_EQ(o.at, 255ms);
  EXPECT_TRUE(o.timed_out.empty());
}

TEST(HappyEyeballsTest, TableOfPaths) {
  struct Row {
    std::string name;
    std::vector<Path> paths;
    RaceTimers timers;
    std::optional<std::size_t> winner;
    milliseconds at;
    std::vector<milliseconds> starts;
    std::vector<std::size_t> timed_out;
  };
  const std::vector<Row> rows = {
      {"first connects before the delay: no second attempt", {{Path::connects, 20ms}, {Path::connects, 1ms}},
       {250ms, 5000ms}, 0, 20ms, {0ms}, {}},
      {"refused at once: the next starts at once", {{Path::fails, 3ms}, {Path::connects, 4ms}},
       {250ms, 5000ms}, 1, 7ms, {0ms, 3ms}, {}},
      {"slow first still wins over a slower second", {{Path::connects, 300ms}, {Path::connects, 400ms}},
       {250ms, 5000ms}, 0, 300ms, {0ms, 250ms}, {}},
      {"second wins while the first is pending", {{Path::connects, 900ms}, {Path::connects, 10ms}},
       {250ms, 5000ms}, 1, 260ms, {0ms, 250ms}, {}},
      {"each attempt bounded by the timeout", {{Path::silent}, {Path::silent}},
       {250ms, 1000ms}, std::nullopt, 1250ms, {0ms, 250ms}, {0, 1}},
      {"a timed-out attempt: the race goes on at the delay", {{Path::silent}, {Path::silent}, {Path::connects, 1ms}},
       {500ms, 600ms}, 2, 1001ms, {0ms, 500ms, 1000ms}, {0}},
      {"all refused: lost when the last fails", {{Path::fails, 1ms}, {Path::fails, 2ms}, {Path::fails, 3ms}},
       {250ms, 5000ms}, std::nullopt, 6ms, {0ms, 1ms, 3ms}, {}},
      {"longer delay", {{Path::silent}, {Path::connects, 1ms}},
       {2000ms, 5000ms}, 1, 2001ms, {0ms, 2000ms}, {}},
      {"three families' worth, third wins", {{Path::silent}, {Path::silent}, {Path::connects, 2ms}},
       {250ms, 5000ms}, 2, 502ms, {0ms, 250ms, 500ms}, {}},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto o = run(row.paths, row.timers);
    EXPECT_EQ(o.winner, row.winner);
    EXPECT_EQ(o.lost, !row.winner.has_value());
    EXPECT_EQ(o.at, row.at);
    EXPECT_EQ(o.starts, row.starts);
    EXPECT_EQ(o.timed_out, row.timed_out);
  }
}

TEST(HappyEyeballsTest, NoAddressesIsLostAtOnce) {
  ConnectRace race(0, {});
  auto a = race.begin(TimePoint{});
  EXPECT_TRUE(a.lost);
  EXPECT_TRUE(a.start.empty());
  EXPECT_TRUE(race.over());
}

TEST(HappyEyeballsTest, AnswersAfterTheEndAreIgnored) {
  const TimePoint t0{std::chrono::seconds(5)};
  ConnectRace race(3, {250ms, 1000ms});
  EXPECT_EQ(race.begin(t0).start, (std::vector<std::size_t>{0}));
  EXPECT_EQ(race.on_timer(t0 + 250ms).start, (std::vector<std::size_t>{1}));
  // Not yet started, or unknown: nothing happens.
  EXPECT_FALSE(race.on_connected(2).winner);
  EXPECT_FALSE(race.on_connected(7).winner);
  EXPECT_TRUE(race.on_failed(2, t0 + 260ms).start.empty());
  auto won = race.on_connected(1);
  ASSERT_TRUE(won.winner);
  EXPECT_EQ(*won.winner, 1U);
  // The abandoned first attempt completing later changes nothing.
  EXPECT_FALSE(race.on_connected(0).winner);
  EXPECT_TRUE(race.on_failed(0, t0 + 300ms).start.empty());
  EXPECT_TRUE(race.on_timer(t0 + 10s).timed_out.empty());
  EXPECT_EQ(race.started(), 2U);
}

TEST(HappyEyeballsTest, TimedOutAttemptCannotWinLater) {
  const TimePoint t0{};
  ConnectRace race(1, {250ms, 1000ms});
  race.begin(t0);
  EXPECT_EQ(race.next_deadline(), t0 + 1000ms);
  auto a = race.on_timer(t0 + 1000ms);
  EXPECT_EQ(a.timed_out, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(a.lost);
  EXPECT_FALSE(race.on_connected(0).winner);
}

}  // namespace
}  // namespace postern::tunnel::daemon
