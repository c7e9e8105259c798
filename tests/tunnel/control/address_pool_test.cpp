// AddressPool: stickiness across reconnects, requested addresses, grace period, exhaustion,
// reserved addresses (network, server, broadcast) never handed out. Time is injected.
#include "tunnel/control/address_pool.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace postern::tunnel::control {
namespace {

using namespace std::chrono_literals;
const AddressPool::TimePoint t0{};

IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }

TEST(AddressPool, RejectsBadConfig) {
  EXPECT_THROW(AddressPool(*IpPrefix::parse("10.0.0.0/8"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(*IpPrefix::parse("10.0.0.0/31"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(IpPrefix{ip("10.0.0.1"), 24}, 60s), std::invalid_argument);
}

TEST(AddressPool, ServerAddressAndExhaustionNeverReserved) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/29"), 60s);  // hosts .1-.6, server .1: clients .2-.6
  EXPECT_EQ(pool.server_address(), ip("10.77.0.1"));
  EXPECT_EQ(pool.capacity(), 5u);
  std::set<IpAddress> got;
  for (int i = 0; i < 5; ++i) {
    auto a = pool.assign("user" + std::to_string(i), std::nullopt, t0);
    ASSERT_TRUE(a);
    EXPECT_TRUE(got.insert(*a).second);
  }
  EXPECT_FALSE(got.contains(ip("10.77.0.0")));
  EXPECT_FALSE(got.contains(ip("10.77.0.1")));
  EXPECT_FALSE(got.contains(ip("10.77.0.7")));
  EXPECT_FALSE(pool.assign("late", std::nullopt, t0));
  // Requests for reserved or foreign addresses are ignored, not honoured.
  AddressPool p2(*IpPrefix::parse("10.77.0.0/29"), 60s);
  for (auto bad : {"10.77.0.0", "10.77.0.1", "10.77.0.7", "192.168.1.1"}) {
    auto a = p2.assign(bad, ip(bad), t0);
    ASSERT_TRUE(a);
    EXPECT_NE(*a, ip(bad));
  }
}

TEST(AddressPool, StickyAcrossReconnectWithinGrace) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/24"), 60s);
  auto a = pool.assign("alice", std::nullopt, t0);
  ASSERT_TRUE(a);
  pool.release("alice", t0 + 1s);
  // Others cannot take it during the grace period, even by asking.
  auto b = pool.assign("bob", a, t0 + 10s);
  ASSERT_TRUE(b);
  EXPECT_NE(*b, *a);
  EXPECT_EQ(pool.assign("alice", std::nullopt, t0 + 30s), a);
  EXPECT_EQ(pool.next_expiry(), std::nullopt);  // alice holds it again
}

TEST(AddressPool, GraceExpiresAndAddressIsFreed) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/30"), 60s);  // exactly one client address (.2)
  auto a = pool.assign("alice", std::nullopt, t0);
  ASSERT_EQ(a, ip("10.77.0.2"));
  EXPECT_FALSE(pool.assign("bob", std::nullopt, t0));
  pool.release("alice", t0);
  EXPECT_EQ(pool.next_expiry(), t0 + 60s);
  EXPECT_FALSE(pool.assign("bob", std::nullopt, t0 + 59s));
  EXPECT_EQ(pool.assign("bob", std::nullopt, t0 + 60s), a);
  EXPECT_FALSE(pool.lease_of("alice"));
}

TEST(AddressPool, RequestedAddressHonouredWhenFreeOrOwn) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/24"), 60s);
  EXPECT_EQ(pool.assign("alice", ip("10.77.0.50"), t0), ip("10.77.0.50"));
  EXPECT_EQ(pool.assign("bob", ip("10.77.0.50"), t0), ip("10.77.0.2"));  // taken: any free one
  // Alice in grace asks for another free address: she moves, the old one is free again.
  pool.release("alice", t0);
  EXPECT_EQ(pool.assign("alice", ip("10.77.0.60"), t0 + 1s), ip("10.77.0.60"));
  EXPECT_EQ(pool.assign("carol", ip("10.77.0.50"), t0 + 1s), ip("10.77.0.50"));
}

TEST(AddressPool, HoldersShareAnAddress) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/24"), 60s);
  auto a = pool.assign("alice", std::nullopt, t0);
  // Second session of alice while the first holds it: same address, cannot move.
  EXPECT_EQ(pool.assign("alice", ip("10.77.0.99"), t0), a);
  pool.release("alice", t0 + 1s);
  EXPECT_EQ(pool.next_expiry(), std::nullopt);  // still one holder
  pool.release("alice", t0 + 2s);
  EXPECT_EQ(pool.next_expiry(), t0 + 62s);
  pool.release("alice", t0 + 3s);  // extra release is harmless
  pool.expire(t0 + 62s);
  EXPECT_EQ(pool.leased(), 0u);
}

TEST(AddressPool, FreedAddressesAreNotReusedImmediately) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/24"), 0s);
  auto a = pool.assign("a", std::nullopt, t0);
  pool.release("a", t0);
  auto b = pool.assign("b", std::nullopt, t0 + 1s);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);  // cursor moves on: a stale route to a's address does not hit b at once
}

// A directory's Framed-IP-Address (RADIUS): given when it is a client address of the pool and
// no other identity's session holds it; a lease merely in grace gives way to it.
TEST(AddressPool, FramedAddressHonouredOnlyInsideThePoolAndWhenFree) {
  AddressPool pool(*IpPrefix::parse("10.77.0.0/24"), 60s);
  using F = AddressPool::Framed;
  EXPECT_EQ(pool.assign_framed("alice", ip("10.78.0.5"), t0), F::outside_pool);
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.1"), t0), F::outside_pool);    // the server's
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.0"), t0), F::outside_pool);    // network
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.255"), t0), F::outside_pool);  // broadcast
  EXPECT_EQ(pool.leased(), 0u);

  ASSERT_EQ(pool.assign_framed("alice", ip("10.77.0.50"), t0), F::assigned);
  EXPECT_EQ(pool.lease_of("alice"), ip("10.77.0.50"));
  // Held by alice's live session: bob cannot have it, nor can the pool give it to anyone else.
  EXPECT_EQ(pool.assign_framed("bob", ip("10.77.0.50"), t0), F::in_use);
  EXPECT_NE(pool.assign("carol", ip("10.77.0.50"), t0), ip("10.77.0.50"));
  // alice's second session with the same address shares it; a different one is refused.
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.50"), t0), F::assigned);
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.51"), t0), F::identity_holds_other);
  pool.release("alice", t0);
  pool.release("alice", t0);
  // In grace: the directory gives it to bob, and alice's lease is gone with it.
  ASSERT_EQ(pool.assign_framed("bob", ip("10.77.0.50"), t0 + 1s), F::assigned);
  EXPECT_EQ(pool.lease_of("bob"), ip("10.77.0.50"));
  EXPECT_EQ(pool.lease_of("alice"), std::nullopt);
  // bob in grace, then moved by the directory to another free address.
  pool.release("bob", t0 + 2s);
  ASSERT_EQ(pool.assign_framed("bob", ip("10.77.0.60"), t0 + 3s), F::assigned);
  EXPECT_EQ(pool.lease_of("bob"), ip("10.77.0.60"));
  EXPECT_EQ(pool.assign_framed("alice", ip("10.77.0.50"), t0 + 3s), F::assigned);  // .50 is free again
}

}  // namespace
}  // namespace postern::tunnel::control
