// AuthThrottle with injected times: growing delays, lockout, window expiry, in-flight attempts
// counted at reserve time, lockout cancels queued attempts, a success racing failures keeps
// their history, IPv6 /64 keys, bounded memory that never evicts lockouts for fresh sources.
#include "auth/throttle.hpp"

#include <gtest/gtest.h>

namespace postern::auth {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
const AuthThrottle::time_point t0{std::chrono::hours(1000)};

// One sequential attempt that fails: reserve, then record.
ms fail_once(AuthThrottle& th, std::string_view src, AuthThrottle::time_point now) {
  EXPECT_TRUE(th.reserve(src, now).allowed);
  return th.record_failure(src, now);
}

TEST(AuthThrottle, DelayGrowsThenLocksOut) {
  ThrottleLimits limits;  // 10 per 5 min, 1 s doubling to 16 s, 5 min lockout
  AuthThrottle th(limits);
  const ms want[] = {1s, 2s, 4s, 8s, 16s, 16s, 16s, 16s, 16s};
  auto now = t0;
  for (ms w : want) {
    EXPECT_EQ(fail_once(th, "198.51.100.7", now), w);
    now += 1s;
  }
  fail_once(th, "198.51.100.7", now);  // 10th failure
  auto v = th.reserve("198.51.100.7", now + 1s);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.refusal, AuthThrottle::Refusal::locked_out);
  EXPECT_EQ(v.locked_until, now + 5min);
  EXPECT_FALSE(th.reserve("198.51.100.7", now + 5min - 1ms).allowed);
  EXPECT_TRUE(th.reserve("198.51.100.8", now).allowed);  // other sources are unaffected
  // After the lockout the count starts again.
  EXPECT_EQ(fail_once(th, "198.51.100.7", now + 5min), 1s);
}

TEST(AuthThrottle, ParallelAttemptsCountAtReserveTime) {
  AuthThrottle th;  // max_failures 10
  int admitted = 0;
  for (int i = 0; i < 500; ++i) admitted += th.reserve("203.0.113.9", t0).allowed ? 1 : 0;
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(th.in_flight("203.0.113.9"), 10u);
  auto v = th.reserve("203.0.113.9", t0);
  EXPECT_EQ(v.refusal, AuthThrottle::Refusal::too_many_in_flight);
  // The first result locks nothing yet; the tenth failure locks out, and the queued rest is cancelled.
  for (int i = 0; i < 9; ++i) th.record_failure("203.0.113.9", t0);
  EXPECT_FALSE(th.cancelled("203.0.113.9", t0));
  th.record_failure("203.0.113.9", t0);
  EXPECT_TRUE(th.cancelled("203.0.113.9", t0 + 1s));
  EXPECT_EQ(th.reserve("203.0.113.9", t0 + 1s).refusal, AuthThrottle::Refusal::locked_out);
}

TEST(AuthThrottle, ReleaseGivesTheSlotBack) {
  ThrottleLimits limits;
  limits.max_failures = 2;
  AuthThrottle th(limits);
  EXPECT_TRUE(th.reserve("a", t0).allowed);
  EXPECT_TRUE(th.reserve("a", t0).allowed);
  EXPECT_FALSE(th.reserve("a", t0).allowed);
  th.release("a");
  EXPECT_TRUE(th.reserve("a", t0).allowed);
}

TEST(AuthThrottle, FailuresOutsideWindowAreForgotten) {
  AuthThrottle th;
  for (int i = 0; i < 9; ++i) fail_once(th, "a", t0 + i * 1s);
  // The window (5 min from the first failure) has passed: back to the first delay.
  EXPECT_EQ(fail_once(th, "a", t0 + 5min + 1s), 1s);
}

TEST(AuthThrottle, SuccessClearsOnlyWhenNothingRacesIt) {
  AuthThrottle th;
  for (int i = 0; i < 5; ++i) fail_once(th, "a", t0);
  EXPECT_TRUE(th.reserve("a", t0).allowed);
  th.record_success("a", t0);
  EXPECT_EQ(th.size(), 0u);  // nothing left to remember
  EXPECT_EQ(fail_once(th, "a", t0), 1s);

  // A success while other guesses are in flight keeps their history: 4 failures recorded,
  // 1 success, then the 5 racing guesses fail -> 9, and one more locks out.
  AuthThrottle th2;
  for (int i = 0; i < 4; ++i) fail_once(th2, "b", t0);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(th2.reserve("b", t0).allowed);
  th2.record_success("b", t0);
  for (int i = 0; i < 5; ++i) th2.record_failure("b", t0);
  fail_once(th2, "b", t0);
  EXPECT_EQ(th2.reserve("b", t0).refusal, AuthThrottle::Refusal::locked_out);
}

TEST(AuthThrottle, Ipv6SharesOneKeyPerSlash64) {
  EXPECT_EQ(source_key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(source_key("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(source_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(source_key("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  EXPECT_EQ(source_key("not-an-address"), "not-an-address");
  ThrottleLimits limits;
  limits.max_failures = 3;
  AuthThrottle th(limits);
  fail_once(th, "2001:db8:1:2::1", t0);
  fail_once(th, "2001:db8:1:2::2", t0);
  fail_once(th, "2001:db8:1:2:ffff::3", t0);
  EXPECT_FALSE(th.reserve("2001:db8:1:2::99", t0).allowed);  // same /64: locked out
  EXPECT_TRUE(th.reserve("2001:db8:1:3::1", t0).allowed);    // next /64: not
}

TEST(AuthThrottle, FloodOfFreshSourcesNeverEvictsALockout) {
  ThrottleLimits limits;
  limits.max_entries = 3;
  limits.max_failures = 2;
  AuthThrottle th(limits);
  fail_once(th, "10.0.0.1", t0);
  fail_once(th, "10.0.0.1", t0);  // 10.0.0.1 locked out
  fail_once(th, "10.0.0.2", t0 + 1s);
  fail_once(th, "10.0.0.3", t0 + 2s);
  // Fresh sources evict the unlocked entries, oldest first, never the lockout.
  for (int i = 0; i < 1000; ++i) {
    std::string src = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    th.record_failure(src, t0 + 3s);
  }
  EXPECT_EQ(th.size(), 3u);
  EXPECT_EQ(th.reserve("10.0.0.1", t0 + 4s).refusal, AuthThrottle::Refusal::locked_out);
  // A table of nothing but lockouts and in-flight attempts refuses newcomers instead.
  AuthThrottle full(limits);
  for (int i = 0; i < 3; ++i) {
    std::string src = "10.2.0." + std::to_string(i);
    fail_once(full, src, t0);
    fail_once(full, src, t0);
  }
  EXPECT_EQ(full.reserve("10.3.0.1", t0 + 1s).refusal, AuthThrottle::Refusal::table_full);
  // Once the lockouts end the entries may be reused.
  EXPECT_TRUE(full.reserve("10.3.0.1", t0 + 6min).allowed);
}

}  // namespace
}  // namespace postern::auth
