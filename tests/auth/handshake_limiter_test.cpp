// HandshakeLimiter: the total and per-source (IPv4 address, IPv6 /64) bounds, release returns
// slots, the table shrinks back to nothing.
#include "auth/handshake_limiter.hpp"

#include <gtest/gtest.h>

namespace postern::auth {
namespace {

using V = HandshakeLimiter::Verdict;

TEST(HandshakeLimiter, PerSourceThenTotal) {
  HandshakeLimiter lim({.max_total = 5, .max_per_source = 2});
  EXPECT_EQ(lim.admit("192.0.2.1"), V::admitted);
  EXPECT_EQ(lim.admit("192.0.2.1"), V::admitted);
  EXPECT_EQ(lim.admit("192.0.2.1"), V::source_limit);
  EXPECT_EQ(lim.admit("2001:db8::1"), V::admitted);
  EXPECT_EQ(lim.admit("2001:db8::ffff:2"), V::admitted);     // same /64
  EXPECT_EQ(lim.admit("2001:db8::3"), V::source_limit);      // same /64, full
  EXPECT_EQ(lim.admit("::ffff:192.0.2.1"), V::source_limit);  // v4-mapped is the v4 source
  EXPECT_EQ(lim.admit("192.0.2.2"), V::admitted);
  EXPECT_EQ(lim.pending(), 5u);
  EXPECT_EQ(lim.admit("192.0.2.3"), V::total_limit);
  lim.release("192.0.2.1");
  EXPECT_EQ(lim.pending_from("192.0.2.1"), 1u);
  EXPECT_EQ(lim.admit("192.0.2.3"), V::admitted);
}

TEST(HandshakeLimiter, ReleaseEmptiesTheTable) {
  HandshakeLimiter lim;
  for (int i = 0; i < 200; ++i) EXPECT_EQ(lim.admit("198.51.100." + std::to_string(i)), V::admitted);
  EXPECT_EQ(lim.sources(), 200u);
  for (int i = 0; i < 200; ++i) lim.release("198.51.100." + std::to_string(i));
  EXPECT_EQ(lim.pending(), 0u);
  EXPECT_EQ(lim.sources(), 0u);
  lim.release("198.51.100.1");  // an extra release is harmless
  EXPECT_EQ(lim.pending(), 0u);
}

TEST(HandshakeLimiter, ZeroPerSourceAdmitsNobody) {
  HandshakeLimiter lim({.max_total = 5, .max_per_source = 0});
  EXPECT_EQ(lim.admit("192.0.2.1"), V::source_limit);
  EXPECT_EQ(lim.pending(), 0u);
}

}  // namespace
}  // namespace postern::auth
