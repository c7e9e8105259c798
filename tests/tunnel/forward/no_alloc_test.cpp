// The forwarding core allocates nothing per packet: after setup, outbound() (route, clamp,
// seal), inbound_udp() (open, roaming, inner checks, deliver; an echo answered into the reply
// buffer; drops) and inbound_tls() perform no operator new and no OpenSSL allocation. Its own
// executable because it replaces the global operator new and OpenSSL's allocator
// (tests/common/allocation_counter.hpp).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>

#include <gtest/gtest.h>

#include "tests/common/allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "tunnel/forward/forwarding_core.hpp"

using postern::test::g_allocations;
using postern::test::g_hooked;

namespace postern::tunnel::forward {
namespace {

TimePoint t0() { return TimePoint{} + std::chrono::hours(1); }

std::shared_ptr<PeerSession> make_session(std::uint32_t local, std::uint32_t peer, std::uint8_t tx, std::uint8_t rx) {
  auto s = std::make_shared<PeerSession>(local, peer, data::Suite::aes_256_gcm, data::Limits{});
  std::array<std::uint8_t, data::kKeySize> k{};
  k.fill(tx);
  s->sender.install_epoch(0, k, t0());
  k.fill(rx);
  s->receiver.install_epoch(0, k, t0());
  return s;
}

TEST(ForwardNoAlloc, PerPacketPathsSteadyState) {
  EXPECT_TRUE(g_hooked);
  ForwardingOptions so;
  so.server = true;
  so.inner = {0x0A4D0000, 0xFFFFFF00, 0x0A4D0001, false};
  ForwardingCore server(so);
  ForwardingCore client(ForwardingOptions{});
  auto at_server = make_session(0x222, 0x111, 2, 1);
  at_server->inner_address = 0x0A4D0002;
  auto at_client = make_session(0x111, 0x222, 1, 2);
  server.add_session(at_server);
  client.add_session(at_client);
  sockaddr_storage laptop{}, moved{}, to{};
  socklen_t len = sizeof(sockaddr_in), to_len = 0;
  reinterpret_cast<sockaddr_in*>(&laptop)->sin_family = AF_INET;
  reinterpret_cast<sockaddr_in*>(&laptop)->sin_port = htons(40000);
  moved = laptop;
  reinterpret_cast<sockaddr_in*>(&moved)->sin_addr.s_addr = htonl(0xAC100514);
  std::memcpy(&at_client->endpoint, &laptop, len);  // any address: the test is the network
  at_client->endpoint_len = len;
  std::vector<std::uint8_t> slot(2048), copy(2048);
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> reply{}, echo{};
  const std::uint8_t header[20] = {0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17, 0, 0, 10, 77, 0, 2, 192, 168, 10, 5};

  const std::uint64_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    const TimePoint now = t0() + std::chrono::milliseconds(i);
    std::memcpy(slot.data() + data::kSealHeadroom, header, sizeof header);
    auto table = client.lock_table();
    Outbound out = client.outbound(slot, 60, now, to, to_len);
    ASSERT_EQ(out.action, Outbound::Action::send_udp);
    std::memcpy(copy.data(), slot.data(), out.length);
    auto server_table = server.lock_table();
    Inbound in = server.inbound_udp(std::span(slot).first(out.length), (i % 2) ? moved : laptop, len, now, reply);
    ASSERT_EQ(in.action, Inbound::Action::deliver);
    ASSERT_EQ(server.inbound_udp(std::span(copy).first(out.length), laptop, len, now, reply).reason, Drop::rx_replayed);
    std::size_t n = client.seal_echo_request(*at_client, 1, now, echo);
    ASSERT_EQ(server.inbound_udp(std::span(echo).first(n), laptop, len, now, reply).action, Inbound::Action::reply);
    n = client.seal_echo_request(*at_client, 2, now, echo);
    ASSERT_EQ(server.inbound_tls(at_server, std::span(echo).first(n), now, reply).action, Inbound::Action::reply);
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

// Inner IPv6 both ways: route by the 16-octet key (server), inner check, MSS clamp of a SYN.
TEST(ForwardNoAlloc, Ipv6PerPacketPathsSteadyState) {
  EXPECT_TRUE(g_hooked);
  ForwardingOptions so;
  so.server = true;
  so.inner = {0x0A4D0000, 0xFFFFFF00, 0x0A4D0001, false};
  so.inner.has_pool6 = true;
  so.inner.pool6_network = data::Ipv6Key::of(*IpAddress::parse("fd00:77::"));
  so.inner.pool6_mask = data::Ipv6Key::of(*IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0"));
  so.inner.server_address6 = data::Ipv6Key::of(*IpAddress::parse("fd00:77::1"));
  ForwardingCore server(so);
  ForwardingCore client(ForwardingOptions{});
  auto at_server = make_session(0x222, 0x111, 2, 1);
  at_server->inner_address = 0x0A4D0002;
  at_server->inner_address6 = data::Ipv6Key::of(*IpAddress::parse("fd00:77::2"));
  auto at_client = make_session(0x111, 0x222, 1, 2);
  server.add_session(at_server);
  client.add_session(at_client);
  sockaddr_storage laptop{}, to{};
  socklen_t len = sizeof(sockaddr_in), to_len = 0;
  reinterpret_cast<sockaddr_in*>(&laptop)->sin_family = AF_INET;
  reinterpret_cast<sockaddr_in*>(&laptop)->sin_port = htons(40000);
  std::memcpy(&at_client->endpoint, &laptop, len);
  at_client->endpoint_len = len;
  // A TCP SYN fd00:77::2 -> 2001:db8::80 with MSS 1460 (clamped each time), and its reverse.
  std::uint8_t up[64] = {0x60, 0, 0, 0, 0, 24, 6, 64};
  const IpAddress mine = *IpAddress::parse("fd00:77::2"), far = *IpAddress::parse("2001:db8::80");
  std::memcpy(up + 8, mine.bytes().data(), 16);
  std::memcpy(up + 24, far.bytes().data(), 16);
  up[52] = 0x60;
  up[53] = 0x02;
  up[60] = 2;
  up[61] = 4;
  std::uint8_t down[64];
  std::memcpy(down, up, sizeof up);
  std::memcpy(down + 8, far.bytes().data(), 16);
  std::memcpy(down + 24, mine.bytes().data(), 16);
  std::vector<std::uint8_t> slot(2048);
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> reply{};

  const std::uint64_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    const TimePoint now = t0() + std::chrono::milliseconds(i);
    up[62] = down[62] = 0x05;  // MSS 1460 again
    up[63] = down[63] = 0xb4;
    std::memcpy(slot.data() + data::kSealHeadroom, up, sizeof up);
    auto table = client.lock_table();
    Outbound out = client.outbound(slot, sizeof up, now, to, to_len);
    ASSERT_EQ(out.action, Outbound::Action::send_udp);
    auto server_table = server.lock_table();
    Inbound in = server.inbound_udp(std::span(slot).first(out.length), laptop, len, now, reply);
    ASSERT_EQ(in.action, Inbound::Action::deliver) << to_string(in.reason);
    std::memcpy(slot.data() + data::kSealHeadroom, down, sizeof down);
    Outbound back = server.outbound(slot, sizeof down, now, to, to_len);
    ASSERT_EQ(back.action, Outbound::Action::send_udp) << to_string(back.reason);
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace postern::tunnel::forward
