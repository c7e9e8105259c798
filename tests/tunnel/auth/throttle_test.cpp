// AuthThrottle with injected times: growing delays, lockout, window expiry, bounded memory.
#include "tunnel/auth/throttle.hpp"

#include <gtest/gtest.h>

namespace postern::tunnel::auth {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
const AuthThrottle::time_point t0{std::chrono::hours(1000)};

TEST(AuthThrottle, DelayGrowsThenLocksOut) {
  ThrottleLimits limits;  // 10 per 5 min, 1 s doubling to 16 s, 5 min lockout
  AuthThrottle th(limits);
  const ms want[] = {1s, 2s, 4s, 8s, 16s, 16s, 16s, 16s, 16s};
  auto now = t0;
  for (ms w : want) {
    EXPECT_TRUE(th.check("198.51.100.7", now).allowed);
    EXPECT_EQ(th.record_failure("198.51.100.7", now), w);
    now += 1s;
  }
  EXPECT_TRUE(th.check("198.51.100.7", now).allowed);
  th.record_failure("198.51.100.7", now);  // 10th failure
  auto v = th.check("198.51.100.7", now + 1s);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.locked_until, now + 5min);
  EXPECT_FALSE(th.check("198.51.100.7", now + 5min - 1ms).allowed);
  EXPECT_TRUE(th.check("198.51.100.7", now + 5min).allowed);
  // Other sources are unaffected.
  EXPECT_TRUE(th.check("198.51.100.8", now).allowed);
  // After the lockout the count starts again.
  EXPECT_EQ(th.record_failure("198.51.100.7", now + 5min), 1s);
}

TEST(AuthThrottle, FailuresOutsideWindowAreForgotten) {
  AuthThrottle th;
  for (int i = 0; i < 9; ++i) th.record_failure("a", t0 + i * 1s);
  // The window (5 min from the first failure) has passed: back to the first delay.
  EXPECT_EQ(th.record_failure("a", t0 + 5min + 1s), 1s);
  EXPECT_TRUE(th.check("a", t0 + 5min + 2s).allowed);
}

TEST(AuthThrottle, SuccessClears) {
  AuthThrottle th;
  for (int i = 0; i < 5; ++i) th.record_failure("a", t0);
  th.record_success("a");
  EXPECT_EQ(th.size(), 0u);
  EXPECT_EQ(th.record_failure("a", t0), 1s);
}

TEST(AuthThrottle, BoundedMemoryEvictsLeastRecentlySeen) {
  ThrottleLimits limits;
  limits.max_entries = 3;
  limits.max_failures = 2;
  AuthThrottle th(limits);
  th.record_failure("a", t0);
  th.record_failure("a", t0);  // a locked out
  th.record_failure("b", t0 + 1s);
  th.record_failure("c", t0 + 2s);
  EXPECT_FALSE(th.check("a", t0 + 3s).allowed);  // touches a: now b is the oldest
  th.record_failure("d", t0 + 4s);
  EXPECT_EQ(th.size(), 3u);
  EXPECT_FALSE(th.check("a", t0 + 5s).allowed);   // still tracked
  EXPECT_EQ(th.record_failure("b", t0 + 6s), 1s);  // b was evicted: fresh
  for (int i = 0; i < 1000; ++i) th.record_failure("x" + std::to_string(i), t0 + 7s);
  EXPECT_EQ(th.size(), 3u);
}

}  // namespace
}  // namespace postern::tunnel::auth
