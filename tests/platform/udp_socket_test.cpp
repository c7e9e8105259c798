// netns tests for UdpSocket: 64-datagram recvmmsg/sendmmsg batches over loopback (IPv4 and
// IPv6), truncation reporting, would-block, the socket options the tunnel sets, and dual-stack
// sockets (IPv4 peers seen as AF_INET, sent to as AF_INET, GSO/GRO both ways).
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <vector>

#include "platform/sys_error.hpp"
#include "platform/udp_socket.hpp"
#include "tests/platform/netns_env.hpp"

namespace postern::platform {
namespace {

constexpr std::size_t k_batch = 64;
constexpr std::size_t k_slot = 256;

void batch_round_trip(const char* bind_text) {
  auto receiver = UdpSocket::bind(*IpEndpoint::parse(bind_text));
  auto sender = UdpSocket::bind(*IpEndpoint::parse(bind_text));
  IpEndpoint receiver_at;
  IpEndpoint sender_at;
  ASSERT_FALSE(receiver.local_endpoint(receiver_at));
  ASSERT_FALSE(sender.local_endpoint(sender_at));
  ASSERT_FALSE(receiver.set_buffer_sizes(1 << 20, 1 << 20));

  auto out = std::make_unique<UdpBatch<k_batch>>();
  std::vector<std::uint8_t> out_storage(k_batch * k_slot);
  out->attach(out_storage, k_slot);
  for (std::size_t i = 0; i < k_batch; ++i) {
    auto& d = out->datagrams[i];
    d.size = 10 + i;  // distinct sizes and contents
    for (std::size_t b = 0; b < d.size; ++b) d.data[b] = static_cast<std::uint8_t>(i + b);
    d.set_peer(receiver_at);
  }
  std::error_code ec;
  ASSERT_EQ(sender.send_batch(*out, k_batch, ec), k_batch) << ec.message();

  auto in = std::make_unique<UdpBatch<k_batch>>();
  std::vector<std::uint8_t> in_storage(k_batch * k_slot);
  in->attach(in_storage, k_slot);
  std::size_t received = 0;
  std::vector<std::vector<std::uint8_t>> payloads;
  while (received < k_batch) {
    pollfd entry{receiver.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&entry, 1, 3000), 1) << "got only " << received;
    const std::size_t n = receiver.recv_batch(*in, ec);
    ASSERT_FALSE(ec) << ec.message();
    for (std::size_t i = 0; i < n; ++i) {
      const auto& d = in->datagrams[i];
      EXPECT_FALSE(d.truncated);
      EXPECT_EQ(d.endpoint(), sender_at);
      payloads.emplace_back(d.payload().begin(), d.payload().end());
    }
    received += n;
  }
  ASSERT_EQ(payloads.size(), k_batch);
  for (std::size_t i = 0; i < k_batch; ++i) {
    const auto expected = out->datagrams[i].payload();
    EXPECT_EQ(payloads[i], std::vector<std::uint8_t>(expected.begin(), expected.end())) << i;
  }
}

TEST(UdpSocketTest, BatchOf64OverIpv4Loopback) {
  POSTERN_REQUIRE_NETNS();
  batch_round_trip("127.0.0.1:0");
}

TEST(UdpSocketTest, BatchOf64OverIpv6Loopback) {
  POSTERN_REQUIRE_NETNS();
  batch_round_trip("[::1]:0");
}

TEST(UdpSocketTest, TruncationWouldBlockAndConnectedSend) {
  POSTERN_REQUIRE_NETNS();
  UdpOptions nonblocking;
  nonblocking.nonblocking = true;
  auto receiver = UdpSocket::bind(*IpEndpoint::parse("127.0.0.1:0"), nonblocking);
  auto sender = UdpSocket::bind(*IpEndpoint::parse("127.0.0.1:0"));
  IpEndpoint receiver_at;
  ASSERT_FALSE(receiver.local_endpoint(receiver_at));

  UdpBatch<4> batch;
  std::array<std::uint8_t, 4 * 10> storage{};
  batch.attach(storage, 10);
  std::error_code ec;
  EXPECT_EQ(receiver.recv_batch(batch, ec), 0U);
  EXPECT_TRUE(is_would_block(ec)) << ec.message();

  ASSERT_FALSE(sender.connect(receiver_at));
  const std::vector<std::uint8_t> big(100, 7);
  EXPECT_EQ(sender.send(big, ec), 100U);
  // Connected batch send: peer_len 0 uses the connected peer.
  UdpBatch<2> out;
  std::array<std::uint8_t, 3> small = {1, 2, 3};
  for (auto& d : out.datagrams) {
    d.set_buffer(small);
    d.size = small.size();
  }
  EXPECT_EQ(sender.send_batch(out, 2, ec), 2U) << ec.message();

  pollfd entry{receiver.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&entry, 1, 3000), 1);
  std::size_t total = 0;
  std::vector<bool> truncated;
  for (int tries = 0; tries < 50 && total < 3; ++tries) {
    const std::size_t n = receiver.recv_batch(batch, ec);
    for (std::size_t i = 0; i < n; ++i) truncated.push_back(batch.datagrams[i].truncated);
    total += n;
    if (n == 0) ::poll(&entry, 1, 100);
  }
  ASSERT_EQ(total, 3U);
  EXPECT_EQ(truncated, (std::vector<bool>{true, false, false}));
}

TEST(UdpSocketTest, OptionsAndErrors) {
  POSTERN_REQUIRE_NETNS();
  UdpOptions marked;
  marked.mark = 0xca6c;
  auto socket = UdpSocket::bind(*IpEndpoint::parse("127.0.0.1:0"), marked);
  // FORCE variants ignore net.core.rmem_max: as root we get at least what we asked for.
  ASSERT_FALSE(socket.set_buffer_sizes(4 << 20, 4 << 20));
  int receive = 0;
  int send = 0;
  ASSERT_FALSE(socket.buffer_sizes(receive, send));
  EXPECT_GE(receive, 4 << 20);
  EXPECT_GE(send, 4 << 20);
  EXPECT_FALSE(socket.set_mark(1));
  EXPECT_FALSE(socket.set_path_mtu_discovery(PathMtuDiscovery::on));
  EXPECT_EQ(to_string(PathMtuDiscovery::probe), "probe");

  auto v6 = UdpSocket::bind(*IpEndpoint::parse("[::1]:0"));
  EXPECT_FALSE(v6.set_path_mtu_discovery(PathMtuDiscovery::off));

  IpEndpoint at;
  ASSERT_FALSE(socket.local_endpoint(at));
  try {
    UdpSocket::bind(at);  // port in use
    ADD_FAILURE() << "double bind succeeded";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find(at.to_string()), std::string::npos) << e.what();
  }
}

// UDP GSO sends runs of equal-size datagrams to one peer as one sendmsg; a plain receiver gets
// the same datagrams back one by one, a GRO receiver gets trains that cut back into them.
// `to` is the receiver's address as the sender names it (an IPv4 address for a dual-stack
// receiver: the kernel delivers it to the [::] socket); `from` is the source the receiver must
// see (always unmapped).
struct GsoCase {
  const char* receiver_bind = "127.0.0.1:0";
  bool receiver_dual = false;
  const char* sender_bind = "127.0.0.1:0";
  bool sender_dual = false;
  const char* to = "127.0.0.1";
  const char* from = "127.0.0.1";
};

UdpOptions stack(bool dual) {
  UdpOptions o;
  o.v6_only = !dual;
  return o;
}

void gso_round_trip(bool receiver_gro, const GsoCase& c = {}) {
  auto receiver = UdpSocket::bind(*IpEndpoint::parse(c.receiver_bind), stack(c.receiver_dual));
  auto sender = UdpSocket::bind(*IpEndpoint::parse(c.sender_bind), stack(c.sender_dual));
  IpEndpoint receiver_local, sender_local;
  ASSERT_FALSE(receiver.local_endpoint(receiver_local));
  ASSERT_FALSE(sender.local_endpoint(sender_local));
  const IpEndpoint receiver_at(*IpAddress::parse(c.to), receiver_local.port());
  const IpEndpoint sender_seen_as(*IpAddress::parse(c.from), sender_local.port());
  ASSERT_FALSE(receiver.set_buffer_sizes(4 << 20, 4 << 20));
  if (receiver_gro) {
    ASSERT_FALSE(receiver.enable_gro());
  }
  sender.set_gso(true);
  constexpr std::size_t slot = 1500;
  auto out = std::make_unique<UdpBatch<k_batch>>();
  std::vector<std::uint8_t> out_storage(k_batch * slot);
  out->attach(out_storage, slot);
  // Runs: 40 x 1400 then a shorter one (ends the run), then 10 x 100, then 13 x 1000.
  std::vector<std::size_t> sizes(40, 1400);
  sizes.push_back(600);
  sizes.insert(sizes.end(), 10, 100);
  sizes.insert(sizes.end(), 13, 1000);
  ASSERT_EQ(sizes.size(), k_batch);
  for (std::size_t i = 0; i < k_batch; ++i) {
    auto& d = out->datagrams[i];
    d.size = sizes[i];
    for (std::size_t b = 0; b < d.size; ++b) d.data[b] = static_cast<std::uint8_t>(i * 3 + b);
    d.set_peer(receiver_at);
  }
  std::error_code ec;
  ASSERT_EQ(sender.send_batch(*out, k_batch, ec), k_batch) << ec.message();
  EXPECT_TRUE(sender.gso_enabled());

  constexpr std::size_t big = 65536;
  auto in = std::make_unique<UdpBatch<k_batch>>();
  std::vector<std::uint8_t> in_storage(k_batch * big);
  in->attach(in_storage, big);
  std::vector<std::vector<std::uint8_t>> got;
  std::size_t coalesced = 0;
  for (int round = 0; round < 100 && got.size() < k_batch; ++round) {
    pollfd p{receiver.fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    const std::size_t n = receiver.recv_batch(*in, ec);
    for (std::size_t i = 0; i < n; ++i) {
      const Datagram& d = in->datagrams[i];
      EXPECT_FALSE(d.truncated);
      EXPECT_EQ(d.endpoint(), sender_seen_as);
      const std::size_t step = d.segment_size != 0 ? d.segment_size : d.size;
      if (d.segment_size != 0) ++coalesced;
      for (std::size_t off = 0; off < d.size; off += step) {
        auto part = d.payload().subspan(off, std::min(step, d.size - off));
        got.emplace_back(part.begin(), part.end());
      }
    }
  }
  ASSERT_EQ(got.size(), k_batch);
  for (std::size_t i = 0; i < k_batch; ++i) {
    const auto expected = out->datagrams[i].payload();
    EXPECT_EQ(got[i], std::vector<std::uint8_t>(expected.begin(), expected.end())) << i;
  }
  if (receiver_gro) {
    EXPECT_GT(coalesced, 0U);  // loopback keeps the GSO train whole
  } else {
    EXPECT_EQ(coalesced, 0U);
  }
}

TEST(UdpSocketTest, GsoSendToPlainReceiver) {
  POSTERN_REQUIRE_NETNS();
  gso_round_trip(false);
}

TEST(UdpSocketTest, GsoSendToGroReceiver) {
  POSTERN_REQUIRE_NETNS();
  gso_round_trip(true);
}

TEST(UdpSocketTest, GsoGroOverIpv6) {
  POSTERN_REQUIRE_NETNS();
  gso_round_trip(true, {"[::1]:0", false, "[::1]:0", false, "::1", "::1"});
}

// The server's [::] socket: an IPv4 client's GSO trains arrive (GRO) with an AF_INET source.
TEST(UdpSocketTest, DualStackReceiverTakesIpv4GsoAsAfInet) {
  POSTERN_REQUIRE_NETNS();
  gso_round_trip(true, {"[::]:0", true, "127.0.0.1:0", false, "127.0.0.1", "127.0.0.1"});
  gso_round_trip(true, {"[::]:0", true, "[::1]:0", false, "::1", "::1"});
}

// The client's dual-stack socket: GSO to an IPv4 server named by an AF_INET sockaddr, and to
// an IPv6 one, from the same socket.
TEST(UdpSocketTest, DualStackSenderGsoToBothFamilies) {
  POSTERN_REQUIRE_NETNS();
  gso_round_trip(true, {"127.0.0.1:0", false, "[::]:0", true, "127.0.0.1", "127.0.0.1"});
  gso_round_trip(false, {"[::1]:0", false, "[::]:0", true, "::1", "::1"});
}

// Replies on a dual-stack socket go back to the AF_INET peer it reported; receive_from unmaps
// too; a v6-only socket refuses an IPv4 peer.
TEST(UdpSocketTest, DualStackRepliesToIpv4AndV6OnlyRefusesIt) {
  POSTERN_REQUIRE_NETNS();
  auto dual = UdpSocket::bind(*IpEndpoint::parse("[::]:0"), stack(true));
  auto v4 = UdpSocket::bind(*IpEndpoint::parse("127.0.0.1:0"));
  IpEndpoint dual_local, v4_at;
  ASSERT_FALSE(dual.local_endpoint(dual_local));
  ASSERT_FALSE(v4.local_endpoint(v4_at));
  const IpEndpoint dual_at(*IpAddress::parse("127.0.0.1"), dual_local.port());
  const std::array<std::uint8_t, 3> ping = {1, 2, 3};
  std::error_code ec;
  ASSERT_EQ(v4.send_to(ping, dual_at, ec), 3U) << ec.message();
  UdpBatch<2> in;
  std::array<std::uint8_t, 2 * 64> storage{};
  in.attach(storage, 64);
  pollfd p{dual.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  ASSERT_EQ(dual.recv_batch(in, ec), 1U) << ec.message();
  EXPECT_EQ(in.datagrams[0].peer.ss_family, AF_INET);
  EXPECT_EQ(in.datagrams[0].endpoint(), v4_at);
  // Reply to the sockaddr exactly as received.
  UdpBatch<1> out;
  out.datagrams[0] = in.datagrams[0];
  ASSERT_EQ(dual.send_batch(out, 1, ec), 1U) << ec.message();
  std::array<std::uint8_t, 16> buffer{};
  IpEndpoint from;
  pollfd q{v4.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&q, 1, 3000), 1);
  EXPECT_EQ(v4.receive_from(buffer, from, ec), 3U);
  EXPECT_EQ(from, dual_at);
  ASSERT_EQ(v4.send_to(ping, dual_at, ec), 3U);
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  EXPECT_EQ(dual.receive_from(buffer, from, ec), 3U);
  EXPECT_EQ(from, v4_at);

  auto v6_only = UdpSocket::bind(*IpEndpoint::parse("[::]:0"), stack(false));
  EXPECT_EQ(v6_only.send_to(ping, v4_at, ec), 0U);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace postern::platform
