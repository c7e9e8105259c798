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

}  // namespace
}  // namespace postern::tunnel::forward
