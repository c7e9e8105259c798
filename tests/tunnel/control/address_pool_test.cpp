// AddressPool: stickiness across reconnects, requested addresses, grace period, exhaustion,
// reserved addresses (network, server, broadcast) never handed out. Time is injected.
#include "tunnel/control/address_pool.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <stdexcept>

namespace postern::tunnel::control {
namespace {

using namespace std::chrono_literals;
const AddressPool::TimePoint t0{};

IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }

TEST(AddressPool, RejectsBadConfig) {
  EXPECT_THROW(AddressPool(*IpPrefix::parse("10.0.0.0/7"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(*IpPrefix::parse("10.0.0.0/31"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(IpPrefix{ip("10.0.0.1"), 24}, 60s), std::invalid_argument);
}

// config accepts pool prefixes 8..30: the large ones are served by hash probing.
TEST(AddressPool, Slash8IsServedByHashProbing) {
  const IpPrefix net = *IpPrefix::parse("10.0.0.0/8");
  AddressPool pool(net, 60s);
  EXPECT_EQ(pool.server_address(), ip("10.0.0.1"));
  EXPECT_EQ(pool.capacity(), (std::uint64_t{1} << 24) - 3);
  std::set<IpAddress> got;
  for (int i = 0; i < 200; ++i) {
    auto a = pool.assign("user" + std::to_string(i), std::nullopt, t0);
    ASSERT_TRUE(a);
    EXPECT_TRUE(net.contains(*a));
    EXPECT_NE(*a, pool.server_address());
    EXPECT_NE(*a, ip("10.255.255.255"));
    EXPECT_TRUE(got.insert(*a).second);
  }
  EXPECT_EQ(pool.assign("user7", std::nullopt, t0), pool.lease_of("user7"));
  // A /15 (131072 addresses) is past the scan limit too.
  AddressPool p15(*IpPrefix::parse("10.76.0.0/15"), 60s);
  auto a = p15.assign("alice", std::nullopt, t0);
  ASSERT_TRUE(a);
  EXPECT_TRUE(IpPrefix::parse("10.76.0.0/15")->contains(*a));
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

// --- IPv6 pools (pool6): the same concept, one instance per family ---

TEST(AddressPool6, RejectsBadConfig) {
  EXPECT_THROW(AddressPool(*IpPrefix::parse("fd00::/48"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(*IpPrefix::parse("fd00::/126"), 60s), std::invalid_argument);
  EXPECT_THROW(AddressPool(IpPrefix{ip("fd00::5"), 112}, 60s), std::invalid_argument);
  EXPECT_NO_THROW(AddressPool(*IpPrefix::parse("fd00::/64"), 60s));
  EXPECT_NO_THROW(AddressPool(*IpPrefix::parse("fd00::/124"), 60s));
}

TEST(AddressPool6, SmallPoolExhaustsAndNeverHandsOutReserved) {
  AddressPool pool(*IpPrefix::parse("fd00:77::/124"), 60s);  // 16 addresses: ::0 net, ::1 server, ::f last
  EXPECT_EQ(pool.family(), IpAddress::Family::v6);
  EXPECT_EQ(pool.server_address(), ip("fd00:77::1"));
  EXPECT_EQ(pool.capacity(), 13u);
  std::set<IpAddress> got;
  for (int i = 0; i < 13; ++i) {
    auto a = pool.assign("user" + std::to_string(i), std::nullopt, t0);
    ASSERT_TRUE(a);
    EXPECT_TRUE(IpPrefix::parse("fd00:77::/124")->contains(*a));
    EXPECT_TRUE(got.insert(*a).second);
  }
  EXPECT_FALSE(got.contains(ip("fd00:77::")));
  EXPECT_FALSE(got.contains(ip("fd00:77::1")));
  EXPECT_FALSE(got.contains(ip("fd00:77::f")));
  EXPECT_FALSE(pool.assign("late", std::nullopt, t0));
  // An IPv4 request in an IPv6 pool is not a client address: ignored.
  pool.release("user0", t0);
  pool.expire(t0 + 61s);
  auto a = pool.assign("v4asker", ip("10.77.0.5"), t0 + 61s);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
}

TEST(AddressPool6, StickyGraceAndSharedHolders) {
  AddressPool pool(*IpPrefix::parse("fd00:77::/112"), 60s);
  auto a = pool.assign("alice", std::nullopt, t0);
  ASSERT_TRUE(a);
  EXPECT_EQ(pool.assign("alice", std::nullopt, t0), a);  // a second session shares it
  pool.release("alice", t0 + 1s);
  EXPECT_EQ(pool.next_expiry(), std::nullopt);  // one holder left
  pool.release("alice", t0 + 2s);
  EXPECT_EQ(pool.next_expiry(), t0 + 62s);
  auto b = pool.assign("bob", a, t0 + 10s);  // in grace: not given to another identity
  ASSERT_TRUE(b);
  EXPECT_NE(*b, *a);
  EXPECT_EQ(pool.assign("alice", std::nullopt, t0 + 30s), a);  // back within grace
  pool.release("alice", t0 + 30s);
  pool.expire(t0 + 90s);
  EXPECT_EQ(pool.lease_of("alice"), std::nullopt);
  // Freed: a requested address of this pool is honoured.
  EXPECT_EQ(pool.assign("carol", a, t0 + 91s), a);
}

TEST(AddressPool6, Slash64ChoosesByHashWithBoundedProbing) {
  const IpPrefix net = *IpPrefix::parse("2001:db8:77:1::/64");
  AddressPool pool(net, 60s);
  EXPECT_EQ(pool.server_address(), ip("2001:db8:77:1::1"));
  EXPECT_EQ(pool.capacity(), ~std::uint64_t{0} - 2);
  std::set<IpAddress> got;
  for (int i = 0; i < 200; ++i) {
    auto a = pool.assign("user" + std::to_string(i), std::nullopt, t0);
    ASSERT_TRUE(a);
    EXPECT_TRUE(net.contains(*a));
    EXPECT_NE(*a, pool.server_address());
    EXPECT_TRUE(got.insert(*a).second);
  }
  // The hash start is a function of the identity: a second pool (a restarted server) gives
  // alice the same address, and different identities land far apart.
  AddressPool again(net, 60s);
  EXPECT_EQ(again.assign("user7", std::nullopt, t0), pool.lease_of("user7"));
  // Two identities whose start collides: the second probes to the next address.
  AddressPool p2(net, 60s);
  auto first = p2.assign("zed", std::nullopt, t0);
  ASSERT_TRUE(first);
  ASSERT_TRUE(p2.assign("taker", first, t0) != first);  // cannot take zed's
  // The client may ask for a specific address of the /64 (its previous one).
  auto mine = ip("2001:db8:77:1:abcd::42");
  EXPECT_EQ(p2.assign("requester", mine, t0), mine);
}

TEST(AddressPool6, Slash64ExhaustedWhenEveryProbeIsTaken) {
  // Fill the kMaxProbes addresses an identity would probe with other identities' requests:
  // the pool answers "exhausted" instead of scanning 2^64 addresses.
  const IpPrefix net = *IpPrefix::parse("fd00:1:2:3::/64");
  AddressPool probe(net, 60s);
  auto start = probe.assign("victim", std::nullopt, t0);
  ASSERT_TRUE(start);
  AddressPool pool(net, 60s);
  // The victim's probes are start, start+1, ...: take them all first.
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < 16; ++i) b[i] = start->bytes()[i];
  for (std::uint64_t i = 0; i < AddressPool::kMaxProbes; ++i) {
    auto a = IpAddress::v6(b);
    ASSERT_EQ(pool.assign("squatter" + std::to_string(i), a, t0), a);
    for (int k = 15; k >= 8; --k) {  // +1 on the low 64 bits
      if (++b[static_cast<std::size_t>(k)] != 0) break;
    }
  }
  EXPECT_EQ(pool.assign("victim", std::nullopt, t0), std::nullopt);
  EXPECT_TRUE(pool.assign("someone-else", std::nullopt, t0));  // another hash start still works
}

}  // namespace
}  // namespace postern::tunnel::control
