// Data planes back to back, the wireguard-go device_test.go way: one server DataPlane and one or
// two client DataPlanes in one process, each with its real TX and RX threads, over fake devices:
// every TUN is TunDevice::open_fake() (a SOCK_SEQPACKET socketpair whose other end is the test,
// playing the kernel), and every UDP socket is a FakePort on a FakeNetwork (fake_network.hpp),
// which can blackhole UDP, park datagrams for reordering and move a port to a new address. The
// TLS control connection is a thread that drains each session's TLS queue into the peer's
// receive_over_tls(), as TunnelServer and TunnelClient do. Keys are installed like the control
// thread does, from a KeyRequest, with test keys both ends derive alike. No root, no IP socket.
// Covers: forwarding both ways, spoofed inner sources (dropped, counted by reason), client
// isolation on and off, echo replies (UDP and TLS), roaming to a new address, rekey overlap
// (old-epoch frames arriving after the new epoch took over), and the UDP -> TLS -> UDP fallback
// driven by the client's real TransportMonitor.
#include "tunnel/daemon/data_plane.hpp"

#include "fake_network.hpp"
#include "tunnel/daemon/transport_monitor.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace postern::tunnel::daemon {
namespace {

using namespace std::chrono_literals;
using forward::Drop;
using test::FakeNetwork;
using test::FakePort;
using test::ipv4_endpoint;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kPool = 0x0A4D0000;  // 10.77.0.0/24
constexpr std::uint32_t kServerAddr = 0x0A4D0001;
constexpr std::uint32_t kSiteHost = 0xC0A80A05;  // 192.168.10.5, behind the server
constexpr std::uint32_t kSpoofed = 0x0A4D0063;   // 10.77.0.99, nobody's

std::uint32_t client_address(int i) { return 0x0A4D000A + static_cast<std::uint32_t>(i); }  // 10.77.0.10 + i
std::uint32_t server_sid(int i) { return 0x000200 + static_cast<std::uint32_t>(i); }
std::uint32_t client_sid(int i) { return 0x000100 + static_cast<std::uint32_t>(i); }

// The key of client i's session for one direction of travel and epoch; both ends derive it alike.
SecretBytes key_for(int client, bool upstream, std::uint32_t epoch) {
  std::array<std::uint8_t, data::kKeySize> k{};
  for (std::size_t j = 0; j < k.size(); ++j) {
    k[j] = static_cast<std::uint8_t>(client * 101 + (upstream ? 1 : 2) * 31 + epoch * 7 + j);
  }
  return SecretBytes(std::span<const std::uint8_t>(k));
}

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// An IPv4 UDP packet of `size` bytes whose payload bytes are all `id`.
std::vector<std::uint8_t> ipv4(std::uint32_t src, std::uint32_t dst, std::uint8_t id, std::size_t size = 60) {
  std::vector<std::uint8_t> p(size, id);
  std::fill(p.begin(), p.begin() + 20, 0);
  p[0] = 0x45;
  p[2] = static_cast<std::uint8_t>(size >> 8);
  p[3] = static_cast<std::uint8_t>(size);
  p[8] = 64;
  p[9] = 17;
  put32(p.data() + 12, src);
  put32(p.data() + 16, dst);
  return p;
}

std::uint32_t destination_of(const std::vector<std::uint8_t>& p) {
  return (std::uint32_t{p[16]} << 24) | (std::uint32_t{p[17]} << 16) | (std::uint32_t{p[18]} << 8) | p[19];
}

// The kernel side of a fake TUN.
void inject(int fd, const std::vector<std::uint8_t>& packet) {
  ASSERT_EQ(::send(fd, packet.data(), packet.size(), 0), static_cast<ssize_t>(packet.size()));
}
std::optional<std::vector<std::uint8_t>> read_packet(int fd, std::chrono::milliseconds timeout = 3s) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  std::vector<std::uint8_t> buffer(65536);
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  for (auto end = Clock::now() + timeout; Clock::now() < end; std::this_thread::sleep_for(2ms)) {
    if (done()) return true;
  }
  return done();
}

std::string text_of(const sockaddr_storage& ss) {
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(sin->sin_port));
}

// One daemon's data path: its plane, the kernel side of its TUN, its UDP port (owned by the plane).
struct Daemon {
  platform::UniqueFd kernel;
  FakePort* port = nullptr;
  std::unique_ptr<DataPlane> plane;
};

struct Options {
  int clients = 1;
  bool client_to_client = false;
  data::Limits limits{};
  bool ipv6 = false;  // pool6 fd00:77::/112 on the server, client i at fd00:77::a+i
  int ipv4_only_clients = 0;  // with ipv6: the last this many clients got no IPv6 address
};

std::string client_address6(int i) { return "fd00:77::" + std::to_string(10 + i); }

// An IPv6 UDP packet of `size` bytes (payload bytes all `id`).
std::vector<std::uint8_t> ipv6(const std::string& src, const std::string& dst, std::uint8_t id, std::size_t size = 80) {
  std::vector<std::uint8_t> p(size, id);
  std::fill(p.begin(), p.begin() + 40, 0);
  p[0] = 0x60;
  p[4] = static_cast<std::uint8_t>((size - 40) >> 8);
  p[5] = static_cast<std::uint8_t>(size - 40);
  p[6] = 17;
  p[7] = 64;
  const IpAddress s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::copy(s.bytes().begin(), s.bytes().end(), p.begin() + 8);
  std::copy(d.bytes().begin(), d.bytes().end(), p.begin() + 24);
  return p;
}

// A server and its clients over one fake network, with their TLS connections.
class Site {
 public:
  explicit Site(Options o) : options_(o) {
    server_ = make_daemon("b2b-server", ipv4_endpoint("198.51.100.1", 51820), server_options(),
                          [](std::shared_ptr<PeerSession> s, Direction d, std::uint32_t epoch) {
                            const int i = static_cast<int>(s->inner_address - client_address(0));
                            DataPlane::install_key(*s, d, epoch, key_for(i, d == Direction::receive, epoch));
                          });
    for (int i = 0; i < o.clients; ++i) {
      DataPlaneOptions co;
      co.echo_magic = 0xC1C1C100 + static_cast<std::uint32_t>(i);
      clients_.push_back(make_daemon("b2b-client" + std::to_string(i),
                                     ipv4_endpoint("192.0.2.10", static_cast<std::uint16_t>(40000 + i)), co,
                                     [i](std::shared_ptr<PeerSession> s, Direction d, std::uint32_t epoch) {
                                       DataPlane::install_key(*s, d, epoch, key_for(i, d == Direction::send, epoch));
                                     }));
      auto at_server = make_session(server_sid(i), client_sid(i), i, false);
      at_server->inner_address = client_address(i);
      if (o.ipv6 && i < o.clients - o.ipv4_only_clients) {
        at_server->inner_address6 = data::Ipv6Key::of(*IpAddress::parse(client_address6(i)));
      }
      auto at_client = make_session(client_sid(i), server_sid(i), i, true);
      at_client->inner_address = client_address(i);
      // The client knows the server's data port from DATA_CHANNEL; the server learns the client's.
      sockaddr_in server_ep = ipv4_endpoint("198.51.100.1", 51820);
      std::memcpy(&at_client->endpoint, &server_ep, sizeof server_ep);
      at_client->endpoint_len = sizeof server_ep;
      server_.plane->add_session(at_server);
      clients_.back().plane->add_session(at_client);
      server_sessions_.push_back(at_server);
      client_sessions_.push_back(at_client);
    }
    server_.plane->start();
    for (auto& c : clients_) c.plane->start();
    tls_ = std::thread([this] { tls_link(); });
  }
  ~Site() {
    stopping_ = true;
    tls_.join();
    for (auto& c : clients_) c.plane->stop();
    server_.plane->stop();
  }

  FakeNetwork net;
  Daemon& server() { return server_; }
  Daemon& client(int i) { return clients_[static_cast<std::size_t>(i)]; }
  PeerSession& at_server(int i) { return *server_sessions_[static_cast<std::size_t>(i)]; }
  PeerSession& at_client(int i) { return *client_sessions_[static_cast<std::size_t>(i)]; }
  const std::shared_ptr<PeerSession>& client_session(int i) { return client_sessions_[static_cast<std::size_t>(i)]; }

  // Client i sends `packet` up; returns what the server's TUN got.
  std::optional<std::vector<std::uint8_t>> up(int i, const std::vector<std::uint8_t>& packet) {
    inject(client(i).kernel.get(), packet);
    return read_packet(server_.kernel.get());
  }
  std::optional<std::vector<std::uint8_t>> down(int i, const std::vector<std::uint8_t>& packet) {
    inject(server_.kernel.get(), packet);
    return read_packet(client(i).kernel.get());
  }

 private:
  DataPlaneOptions server_options() const {
    DataPlaneOptions so;
    so.server = true;
    so.client_to_client = options_.client_to_client;
    so.pool = IpPrefix{IpAddress::from_v4_uint(kPool), 24};
    so.server_address = IpAddress::from_v4_uint(kServerAddr);
    if (options_.ipv6) {
      so.pool6 = IpPrefix::parse("fd00:77::/112");
      so.server_address6 = *IpAddress::parse("fd00:77::1");
    }
    so.echo_magic = 0x5E5E5E5E;
    return so;
  }
  Daemon make_daemon(std::string name, sockaddr_in address, DataPlaneOptions o, DataPlane::KeyRequest keys) {
    auto [tun, kernel] = platform::TunDevice::open_fake(std::move(name));
    auto port = std::make_unique<FakePort>(net, address);
    Daemon d;
    d.kernel = std::move(kernel);
    d.port = port.get();
    d.plane = std::make_unique<DataPlane>(o, std::move(tun), std::move(port), std::move(keys));
    return d;
  }
  std::shared_ptr<PeerSession> make_session(std::uint32_t local, std::uint32_t peer, int i, bool client) {
    auto s = std::make_shared<PeerSession>(local, peer, data::Suite::aes_256_gcm, options_.limits);
    s->log_id = (client ? "client" : "server") + std::to_string(i);
    for (std::uint32_t e : {0u, 1u}) {
      DataPlane::install_key(*s, Direction::send, e, key_for(i, client, e));
      DataPlane::install_key(*s, Direction::receive, e, key_for(i, !client, e));
    }
    return s;
  }
  // The control connections: each session's TLS queue into the peer plane, both ways.
  void tls_link() {
    std::vector<std::vector<std::uint8_t>> frames;
    auto carry = [&frames](PeerSession& from, DataPlane& to, const std::shared_ptr<PeerSession>& at) {
      frames.clear();
      from.tls_out.drain([&](std::span<const std::uint8_t> f) { frames.emplace_back(f.begin(), f.end()); });
      for (auto& f : frames) to.receive_over_tls(at, f);
    };
    while (!stopping_) {
      for (std::size_t i = 0; i < clients_.size(); ++i) {
        carry(*client_sessions_[i], *server_.plane, server_sessions_[i]);
        carry(*server_sessions_[i], *clients_[i].plane, client_sessions_[i]);
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  Options options_;
  Daemon server_;
  std::vector<Daemon> clients_;
  std::vector<std::shared_ptr<PeerSession>> server_sessions_, client_sessions_;
  std::atomic<bool> stopping_{false};
  std::thread tls_;
};

TEST(DataPlaneBackToBack, ForwardsBothWays) {
  Site site({});
  auto request = ipv4(client_address(0), kSiteHost, 0xA1, 100);
  EXPECT_EQ(site.up(0, request), request);
  EXPECT_EQ(text_of(site.at_server(0).endpoint), "192.0.2.10:40000");  // learned from the datagram
  auto answer = ipv4(kSiteHost, client_address(0), 0xB2, 1400);
  EXPECT_EQ(site.down(0, answer), answer);
  for (std::uint8_t id = 0; id < 50; ++id) {  // a burst: batches, in order
    inject(site.client(0).kernel.get(), ipv4(client_address(0), kSiteHost, id));
  }
  for (std::uint8_t id = 0; id < 50; ++id) {
    auto got = read_packet(site.server().kernel.get());
    ASSERT_TRUE(got);
    EXPECT_EQ((*got)[30], id);
  }
  EXPECT_EQ(site.at_server(0).rx_packets.load(), 51u);
  EXPECT_EQ(site.at_server(0).tx_packets.load(), 1u);
  EXPECT_EQ(site.at_client(0).rx_bytes.load(), answer.size());
  EXPECT_EQ(site.at_server(0).transport.load(), Transport::udp);
}

// Inner IPv6 (PPP 0x0057) through whole data planes: routed by the client's IPv6 address on the
// way down, checked against it on the way up.
TEST(DataPlaneBackToBack, ForwardsIpv6BothWays) {
  Site site({.ipv6 = true});
  const std::string site6 = "2001:db8:10::5";
  auto request = ipv6(client_address6(0), site6, 0xA1, 120);
  EXPECT_EQ(site.up(0, request), request);
  auto answer = ipv6(site6, client_address6(0), 0xB2, 1400);
  EXPECT_EQ(site.down(0, answer), answer);
  auto to_server = ipv6(client_address6(0), "fd00:77::1", 0xC3);  // the server's own inner address
  EXPECT_EQ(site.up(0, to_server), to_server);
  for (std::uint8_t id = 0; id < 50; ++id) inject(site.server().kernel.get(), ipv6(site6, client_address6(0), id));
  for (std::uint8_t id = 0; id < 50; ++id) {
    auto got = read_packet(site.client(0).kernel.get());
    ASSERT_TRUE(got);
    EXPECT_EQ((*got)[50], id);
  }
  // IPv4 beside it, on the same session.
  auto v4 = ipv4(client_address(0), kSiteHost, 0xD4);
  EXPECT_EQ(site.up(0, v4), v4);
  EXPECT_EQ(site.at_server(0).rx_packets.load(), 3u);
  EXPECT_EQ(site.at_server(0).tx_packets.load(), 51u);
  // Nobody's IPv6 address: no route.
  inject(site.server().kernel.get(), ipv6(site6, "fd00:77::99", 1));
  EXPECT_TRUE(eventually([&] { return site.server().plane->stats().drop(Drop::tx_no_route) == 1; }));
}

TEST(DataPlaneBackToBack, SpoofedIpv6SourcesAreDroppedAndCountedByReason) {
  Site site({.clients = 3, .ipv6 = true, .ipv4_only_clients = 1});
  // Client 0 claims nobody's IPv6 address, then client 1's, then sends a link-local router
  // solicitation (which its own core keeps), then its own address.
  inject(site.client(0).kernel.get(), ipv6("fd00:77::99", "2001:db8::1", 1));
  inject(site.client(0).kernel.get(), ipv6(client_address6(1), "2001:db8::1", 2));
  inject(site.client(0).kernel.get(), ipv6("fe80::1", "ff02::2", 3));
  auto own = ipv6(client_address6(0), "2001:db8::1", 4);
  inject(site.client(0).kernel.get(), own);
  EXPECT_EQ(read_packet(site.server().kernel.get()), own);
  EXPECT_EQ(site.server().plane->stats().drop(Drop::rx_spoofed_source), 2u);
  EXPECT_EQ(site.client(0).plane->stats().drop(Drop::tx_link_scope), 1u);  // the link-local one never left
  EXPECT_EQ(site.at_server(0).rx_dropped.load(), 0u);  // policy, not loss
  // Client 2 has no IPv6 address: none of its IPv6 gets through, whatever the source.
  inject(site.client(2).kernel.get(), ipv6(client_address6(2), "2001:db8::1", 5));
  auto marker = ipv4(client_address(2), kSiteHost, 6);
  inject(site.client(2).kernel.get(), marker);
  EXPECT_EQ(read_packet(site.server().kernel.get()), marker);
  EXPECT_EQ(site.server().plane->stats().drop(Drop::rx_bad_inner), 1u);
}

TEST(DataPlaneBackToBack, Ipv6ClientIsolationOnAndOff) {
  for (bool allowed : {false, true}) {
    SCOPED_TRACE(allowed ? "client_to_client = true" : "client_to_client = false");
    Site site({.clients = 2, .client_to_client = allowed, .ipv6 = true});
    ASSERT_TRUE(site.up(1, ipv6(client_address6(1), "2001:db8::1", 9)));
    auto to_peer = ipv6(client_address6(0), client_address6(1), 0x42);
    inject(site.client(0).kernel.get(), to_peer);
    auto marker = ipv6(client_address6(0), "2001:db8::1", 0x43);
    inject(site.client(0).kernel.get(), marker);
    auto first = read_packet(site.server().kernel.get());
    ASSERT_TRUE(first);
    if (!allowed) {
      EXPECT_EQ(*first, marker);
      EXPECT_EQ(site.server().plane->stats().drop(Drop::rx_client_to_client), 1u);
      continue;
    }
    ASSERT_EQ(*first, to_peer);
    EXPECT_EQ(read_packet(site.server().kernel.get()), marker);
    inject(site.server().kernel.get(), *first);  // the kernel's pool6 route: back into the TUN
    EXPECT_EQ(read_packet(site.client(1).kernel.get()), to_peer);
  }
}

TEST(DataPlaneBackToBack, SpoofedInnerSourcesAreDroppedAndCountedByReason) {
  Site site({.clients = 2});
  // Client 0 claims nobody's address, then client 1's, then its own: only the last gets through.
  inject(site.client(0).kernel.get(), ipv4(kSpoofed, kSiteHost, 1));
  inject(site.client(0).kernel.get(), ipv4(client_address(1), kSiteHost, 2));
  auto own = ipv4(client_address(0), kSiteHost, 3);
  inject(site.client(0).kernel.get(), own);
  EXPECT_EQ(read_packet(site.server().kernel.get()), own);  // the same UDP path keeps the order
  const DataPlaneStats stats = site.server().plane->stats();
  EXPECT_EQ(stats.drop(Drop::rx_spoofed_source), 2u);
  EXPECT_EQ(stats.drop(Drop::rx_client_to_client), 0u);
  EXPECT_EQ(site.at_server(0).rx_packets.load(), 3u);  // authenticated all the same
  EXPECT_EQ(site.at_server(0).rx_dropped.load(), 0u);  // policy, not loss
}

// Rows: isolation on (the default) and off. Client 0 sends to client 1's tunnel address; the test
// plays the server's kernel, which routes a packet for the pool back into the TUN.
TEST(DataPlaneBackToBack, ClientIsolationOnAndOff) {
  for (bool allowed : {false, true}) {
    SCOPED_TRACE(allowed ? "client_to_client = true" : "client_to_client = false");
    Site site({.clients = 2, .client_to_client = allowed});
    // Client 1 speaks first so the server knows its endpoint.
    ASSERT_TRUE(site.up(1, ipv4(client_address(1), kSiteHost, 9)));
    auto to_peer = ipv4(client_address(0), client_address(1), 0x42);
    inject(site.client(0).kernel.get(), to_peer);
    auto marker = ipv4(client_address(0), kSiteHost, 0x43);
    inject(site.client(0).kernel.get(), marker);
    auto first = read_packet(site.server().kernel.get());
    ASSERT_TRUE(first);
    if (!allowed) {
      EXPECT_EQ(*first, marker);  // the packet for client 1 never reached the TUN
      EXPECT_EQ(site.server().plane->stats().drop(Drop::rx_client_to_client), 1u);
      continue;
    }
    ASSERT_EQ(*first, to_peer);
    EXPECT_EQ(read_packet(site.server().kernel.get()), marker);
    ASSERT_EQ(destination_of(*first), client_address(1));
    inject(site.server().kernel.get(), *first);  // the kernel's route for the pool: back into the TUN
    EXPECT_EQ(read_packet(site.client(1).kernel.get()), to_peer);
    EXPECT_EQ(site.server().plane->stats().drop(Drop::rx_client_to_client), 0u);
  }
}

TEST(DataPlaneBackToBack, EchoRequestsAreAnsweredTheWayTheyCame) {
  Site site({});
  // Over UDP: the reply proves the UDP path (what the client's TransportMonitor waits for).
  site.client(0).plane->send_echo(site.client_session(0), 1, Transport::udp);
  ASSERT_TRUE(eventually([&] { return site.at_client(0).last_udp_echo_reply_ns.load() != 0; }));
  const std::int64_t udp_reply = site.at_client(0).last_udp_echo_reply_ns.load();
  EXPECT_EQ(text_of(site.at_server(0).endpoint), "192.0.2.10:40000");  // the echo announced it
  // Inside TLS: answered inside TLS; it proves nothing about UDP.
  site.client(0).plane->send_echo(site.client_session(0), 2, Transport::tls);
  ASSERT_TRUE(eventually([&] { return site.at_client(0).tls_rx_frames.load() == 1; }));
  EXPECT_EQ(site.at_server(0).tls_rx_frames.load(), 1u);
  EXPECT_EQ(site.at_client(0).last_udp_echo_reply_ns.load(), udp_reply);
  EXPECT_EQ(site.at_client(0).rx_packets.load(), 2u);
  // Echoes are not data: nobody's TUN saw anything, and the server did not move to TLS.
  EXPECT_FALSE(read_packet(site.server().kernel.get(), 50ms));
  EXPECT_FALSE(read_packet(site.client(0).kernel.get(), 50ms));
  EXPECT_EQ(site.at_server(0).transport.load(), Transport::udp);
}

TEST(DataPlaneBackToBack, RoamingToANewAddressKeepsTheSession) {
  Site site({});
  ASSERT_TRUE(site.up(0, ipv4(client_address(0), kSiteHost, 1)));
  ASSERT_TRUE(site.down(0, ipv4(kSiteHost, client_address(0), 2)));
  // The laptop joins another network: new address, new port, the old address is gone.
  site.net.move(*site.client(0).port, ipv4_endpoint("203.0.113.7", 41000));
  const std::uint64_t lost = site.net.lost();
  inject(site.server().kernel.get(), ipv4(kSiteHost, client_address(0), 3));
  EXPECT_FALSE(read_packet(site.client(0).kernel.get(), 200ms));  // sent to the old address
  EXPECT_TRUE(eventually([&] { return site.net.lost() == lost + 1; }));
  // Its next authenticated datagram moves the session; no handshake, same keys and counters.
  auto up = ipv4(client_address(0), kSiteHost, 4);
  EXPECT_EQ(site.up(0, up), up);
  EXPECT_EQ(text_of(site.at_server(0).endpoint), "203.0.113.7:41000");
  auto down = ipv4(kSiteHost, client_address(0), 5);
  EXPECT_EQ(site.down(0, down), down);
  EXPECT_EQ(site.at_server(0).rx_dropped.load(), 0u);
}

// The client's frames of epoch 0 are parked in the network while it goes on past the rekey;
// they arrive after the server switched to epoch 1 and are still accepted (the previous key's
// overlap), and nothing is dropped.
TEST(DataPlaneBackToBack, RekeyOverlapAcceptsOldEpochFramesAfterTheNewOne) {
  data::Limits limits;
  limits.rekey_after_packets = 40;
  Site site({.limits = limits});
  site.net.hold(true);
  for (std::uint8_t id = 0; id < 20; ++id) inject(site.client(0).kernel.get(), ipv4(client_address(0), kSiteHost, id));
  ASSERT_TRUE(eventually([&] { return site.at_client(0).tx_packets.load() == 20; }));
  ASSERT_TRUE(eventually([&] { return site.net.parked() == 20; }));
  site.net.hold(false);
  std::set<std::uint8_t> got;
  for (std::uint8_t id = 20; id < 80; ++id) {
    inject(site.client(0).kernel.get(), ipv4(client_address(0), kSiteHost, id));
    auto p = read_packet(site.server().kernel.get());
    ASSERT_TRUE(p) << static_cast<int>(id);
    got.insert((*p)[30]);
  }
  {
    std::lock_guard lock(site.at_server(0).rx_mutex);
    ASSERT_GE(site.at_server(0).receiver.current_epoch().value_or(0), 1u);  // the new epoch took over
  }
  site.net.release();  // the old epoch's frames, late
  for (int k = 0; k < 20; ++k) {
    auto p = read_packet(site.server().kernel.get());
    ASSERT_TRUE(p) << k;
    got.insert((*p)[30]);
  }
  EXPECT_EQ(got.size(), 80u);
  const DataPlaneStats stats = site.server().plane->stats();
  EXPECT_EQ(stats.drop(Drop::rx_unknown_epoch), 0u);
  EXPECT_EQ(stats.drop(Drop::rx_replayed), 0u);
  EXPECT_EQ(site.at_server(0).rx_dropped.load(), 0u);
}

// The client's control loop as TunnelClient runs it (transport_tick), on a fast clock: the
// monitor's decisions are performed on the client's plane, and a ping goes up every tick and is
// answered by the test playing the site host.
struct ClientLoop {
  Site& site;
  TransportMonitor monitor{TransportTimers{40ms, 160ms, 1000ms, 3}, Clock::now()};
  std::uint8_t echo_id = 0;
  std::uint64_t tx_seen = 0;
  std::uint8_t ping = 0;
  int pongs = 0;
  std::vector<Transport> switches;

  explicit ClientLoop(Site& s) : site(s) { site.client(0).plane->send_echo(site.client_session(0), echo_id, Transport::udp); }
  static std::optional<Clock::time_point> as_time(const std::atomic<std::int64_t>& ns) {
    const std::int64_t v = ns.load();
    if (v == 0) return std::nullopt;
    return Clock::time_point(Clock::duration(v));
  }
  // Runs until `done` or `timeout`; true if done.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    PeerSession& s = site.at_client(0);
    for (auto end = Clock::now() + timeout; Clock::now() < end;) {
      std::this_thread::sleep_for(monitor.tick_interval());
      const std::uint64_t tx = s.tx_packets.load();
      auto d = monitor.tick(Clock::now(), as_time(s.last_udp_rx_ns), as_time(s.last_udp_echo_reply_ns), tx != tx_seen);
      tx_seen = tx;
      if (d.switch_to && DataPlane::set_transport(s, *d.switch_to, d.reason)) switches.push_back(*d.switch_to);
      if (d.probe_udp) site.client(0).plane->send_echo(site.client_session(0), ++echo_id, Transport::udp);
      if (d.keepalive_tls) site.client(0).plane->send_echo(site.client_session(0), ++echo_id, Transport::tls);
      inject(site.client(0).kernel.get(), ipv4(client_address(0), kSiteHost, ++ping));
      while (auto p = read_packet(site.server().kernel.get(), 0ms)) {
        inject(site.server().kernel.get(), ipv4(kSiteHost, client_address(0), (*p)[30]));
      }
      while (read_packet(site.client(0).kernel.get(), 0ms)) ++pongs;
      if (done()) return true;
    }
    return false;
  }
  // Pongs from now on.
  bool pongs_flow(std::chrono::milliseconds timeout) {
    const int before = pongs;
    return run_until([&] { return pongs >= before + 5; }, timeout);
  }
};

TEST(DataPlaneBackToBack, FallbackToTlsWhenUdpIsBlockedAndBackWhenItReturns) {
  Site site({});
  ClientLoop loop(site);
  ASSERT_TRUE(loop.pongs_flow(5s));
  EXPECT_EQ(site.at_server(0).transport.load(), Transport::udp);
  EXPECT_EQ(site.at_server(0).tls_rx_frames.load(), 0u);

  site.net.block(true);  // a hotel network: UDP blackholed both ways
  ASSERT_TRUE(loop.run_until([&] { return site.at_client(0).transport.load() == Transport::tls; }, 5s));
  ASSERT_TRUE(loop.pongs_flow(5s)) << "no traffic inside TLS";
  EXPECT_EQ(site.at_server(0).transport.load(), Transport::tls);  // it followed its client
  EXPECT_GT(site.at_server(0).tls_rx_frames.load(), 0u);

  site.net.block(false);
  ASSERT_TRUE(loop.run_until([&] { return site.at_client(0).transport.load() == Transport::udp; }, 5s));
  const std::uint64_t tls_frames = site.at_server(0).tls_rx_frames.load();
  ASSERT_TRUE(loop.pongs_flow(5s));
  EXPECT_EQ(site.at_server(0).transport.load(), Transport::udp);
  // Once each way on both ends: the TLS queue's last frames, interleaved with the first UDP
  // datagrams, did not make the server flap.
  EXPECT_EQ(loop.switches, (std::vector<Transport>{Transport::tls, Transport::udp}));
  EXPECT_EQ(site.at_server(0).transport_switches.load(), 2u);
  EXPECT_EQ(site.at_client(0).transport_switches.load(), 2u);
  EXPECT_LE(site.at_server(0).tls_rx_frames.load() - tls_frames, 8u);  // data stopped going by TLS
}

}  // namespace
}  // namespace postern::tunnel::daemon
