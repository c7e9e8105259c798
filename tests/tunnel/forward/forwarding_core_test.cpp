// The forwarding core back to back, the wireguard-go device_test.go way: a server core and a
// client core in one process, their sessions keyed from the same test keys, frames handed from
// one to the other by the test (the "network"), with a simulated clock. No sockets, no root.
// Covers forwarding both ways, routing, spoofed inner sources, isolation on/off, echo replies,
// roaming (a new outer address), rekey overlap, TLS-fallback switching and the drop reasons;
// each per-packet rule has a table test.
#include "tunnel/forward/forwarding_core.hpp"

#include "tunnel/data/lcp_echo.hpp"
#include "tunnel/data/mss_clamp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace postern::tunnel::forward {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kServerAddr = 0x0A4D0001;  // 10.77.0.1
constexpr std::uint32_t kClientAddr = 0x0A4D0002;  // 10.77.0.2
constexpr std::uint32_t kOtherClient = 0x0A4D0003;
constexpr std::uint32_t kSiteHost = 0xC0A80A05;   // 192.168.10.5, behind the server
constexpr std::uint32_t kClientSid = 0x000111;
constexpr std::uint32_t kServerSid = 0x000222;

TimePoint t0() { return TimePoint{} + 1h; }

std::array<std::uint8_t, data::kKeySize> key(std::uint8_t direction, std::uint32_t epoch) {
  std::array<std::uint8_t, data::kKeySize> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(direction * 31 + epoch * 7 + i);
  return k;
}

sockaddr_storage v4(const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  len = sizeof(sockaddr_in);
  return ss;
}

std::string text_of(const sockaddr_storage& ss) {
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(sin->sin_port));
}

void put32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

// An IPv4 packet (UDP, no checksum) of `size` bytes, the id in the payload.
std::vector<std::uint8_t> ipv4(std::uint32_t src, std::uint32_t dst, std::size_t size = 60, std::uint8_t id = 0) {
  std::vector<std::uint8_t> p(size, id);
  p[0] = 0x45;
  p[2] = static_cast<std::uint8_t>(size >> 8);
  p[3] = static_cast<std::uint8_t>(size);
  p[8] = 64;
  p[9] = 17;
  put32(p.data() + 12, src);
  put32(p.data() + 16, dst);
  return p;
}

// An IPv4 TCP SYN with an MSS option of `mss`.
std::vector<std::uint8_t> tcp_syn(std::uint32_t src, std::uint32_t dst, std::uint16_t mss) {
  std::vector<std::uint8_t> p(44, 0);
  p[0] = 0x45;
  p[3] = 44;
  p[8] = 64;
  p[9] = 6;
  put32(p.data() + 12, src);
  put32(p.data() + 16, dst);
  p[32] = 0x60;  // data offset 6 words
  p[33] = 0x02;  // SYN
  p[40] = 2;     // MSS option
  p[41] = 4;
  p[42] = static_cast<std::uint8_t>(mss >> 8);
  p[43] = static_cast<std::uint8_t>(mss);
  return p;
}

std::uint16_t mss_of(std::span<const std::uint8_t> p) { return static_cast<std::uint16_t>(p[42] << 8 | p[43]); }

// One end: its core and its one session with the peer.
struct End {
  End(bool server, std::uint32_t local, std::uint32_t peer, bool client_to_client = false, bool pool6 = false)
      : core(options(server, client_to_client, pool6)),
        session(std::make_shared<PeerSession>(local, peer, data::Suite::aes_256_gcm, data::Limits{})) {
    // Client->server keys are direction 1, server->client direction 2; epochs 0 and 1 come with the session.
    const std::uint8_t tx = server ? 2 : 1, rx = server ? 1 : 2;
    for (std::uint32_t e : {0u, 1u}) {
      session->sender.install_epoch(e, key(tx, e), t0());
      session->receiver.install_epoch(e, key(rx, e), t0());
    }
    if (server) session->inner_address = kClientAddr;
    if (server && pool6) session->inner_address6 = data::Ipv6Key::of(*IpAddress::parse("fd00:77::2"));
    core.add_session(session);
  }
  static ForwardingOptions options(bool server, bool client_to_client, bool pool6 = false) {
    ForwardingOptions o;
    o.server = server;
    o.mtu = 1400;
    o.inner = {0x0A4D0000, 0xFFFFFF00, kServerAddr, client_to_client};
    if (pool6) {  // fd00:77::/112, the server fd00:77::1
      o.inner.has_pool6 = true;
      o.inner.pool6_network = data::Ipv6Key::of(*IpAddress::parse("fd00:77::"));
      o.inner.pool6_mask = data::Ipv6Key::of(*IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0"));
      o.inner.server_address6 = data::Ipv6Key::of(*IpAddress::parse("fd00:77::1"));
    }
    o.echo_magic = server ? 0x5E5E5E5E : 0xC1C1C1C1;
    return o;
  }

  ForwardingCore core;
  SessionRef session;
};

// What one TUN packet became: the verdict and, when sent, the sealed frame and its address.
struct Sent {
  Outbound out;
  std::vector<std::uint8_t> frame;
  sockaddr_storage to{};
  socklen_t to_len = 0;
};

Sent send(End& from, std::span<const std::uint8_t> packet, TimePoint now) {
  std::vector<std::uint8_t> slot(2048);
  std::copy(packet.begin(), packet.end(), slot.begin() + data::kSealHeadroom);
  Sent s;
  auto lock = from.core.lock_table();
  s.out = from.core.outbound(slot, packet.size(), now, s.to, s.to_len);
  if (s.out.action != Outbound::Action::drop) s.frame.assign(slot.begin(), slot.begin() + s.out.length);
  return s;
}

// What a received frame became, with copies of what it points at.
struct Got {
  Inbound in;
  std::vector<std::uint8_t> packet;  // delivered packet or sealed reply
};

Got receive_udp(End& at, std::vector<std::uint8_t> frame, const sockaddr_storage& from, socklen_t from_len,
                TimePoint now) {
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> reply{};
  Got g;
  auto lock = at.core.lock_table();
  g.in = at.core.inbound_udp(frame, from, from_len, now, reply);
  g.packet.assign(g.in.packet.begin(), g.in.packet.end());
  return g;
}

Got receive_tls(End& at, std::vector<std::uint8_t> frame, TimePoint now) {
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> reply{};
  Got g;
  g.in = at.core.inbound_tls(at.session, frame, now, reply);
  g.packet.assign(g.in.packet.begin(), g.in.packet.end());
  return g;
}

struct BackToBack : ::testing::Test {
  End server{true, kServerSid, kClientSid};
  End client{false, kClientSid, kServerSid};
  socklen_t laptop_len = 0, server_len = 0;
  sockaddr_storage laptop = v4("192.0.2.10", 40000, laptop_len);
  sockaddr_storage server_ep = v4("198.51.100.1", 51820, server_len);

  void SetUp() override {
    // The client knows the server's endpoint from DATA_CHANNEL; the server learns the client's.
    std::memcpy(&client.session->endpoint, &server_ep, server_len);
    client.session->endpoint_len = server_len;
  }
  // Client -> server over UDP from `from`.
  Got up(std::span<const std::uint8_t> packet, TimePoint now, const sockaddr_storage* from = nullptr) {
    Sent s = send(client, packet, now);
    EXPECT_EQ(s.out.action, Outbound::Action::send_udp) << to_string(s.out.reason);
    return receive_udp(server, s.frame, from ? *from : laptop, laptop_len, now);
  }
};

TEST_F(BackToBack, ForwardsBothWays) {
  auto request = ipv4(kClientAddr, kSiteHost, 100, 0xA1);
  Got at_server = up(request, t0());
  ASSERT_EQ(at_server.in.action, Inbound::Action::deliver) << to_string(at_server.in.reason);
  EXPECT_EQ(at_server.packet, request);
  EXPECT_EQ(at_server.in.session->get(), server.session.get());

  auto answer = ipv4(kSiteHost, kClientAddr, 1400, 0xB2);
  Sent down = send(server, answer, t0() + 1ms);
  ASSERT_EQ(down.out.action, Outbound::Action::send_udp) << to_string(down.out.reason);
  EXPECT_EQ(text_of(down.to), "192.0.2.10:40000");  // learned from the authenticated datagram
  Got at_client = receive_udp(client, down.frame, server_ep, server_len, t0() + 2ms);
  ASSERT_EQ(at_client.in.action, Inbound::Action::deliver);
  EXPECT_EQ(at_client.packet, answer);
  EXPECT_EQ(server.session->rx_packets.load(), 1u);
  EXPECT_EQ(server.session->tx_packets.load(), 1u);
  EXPECT_EQ(client.session->rx_bytes.load(), answer.size());
}

TEST_F(BackToBack, ServerHasNoEndpointUntilTheClientSpeaks) {
  Sent s = send(server, ipv4(kSiteHost, kClientAddr), t0());
  EXPECT_EQ(s.out.action, Outbound::Action::drop);
  EXPECT_EQ(s.out.reason, Drop::tx_no_endpoint);
  EXPECT_EQ(server.core.drops().get(Drop::tx_no_endpoint), 1u);
  EXPECT_EQ(server.session->sender.next_counter(), 0u);  // nothing sealed for nobody
}

// Outbound routing, one row per rule.
TEST(OutboundRoute, Table) {
  struct Row {
    const char* name;
    bool server;
    std::vector<std::uint8_t> packet;
    std::optional<Drop> drop;  // nullopt: sent to the session
  };
  auto v6 = std::vector<std::uint8_t>(40, 0);
  v6[0] = 0x60;
  v6[8] = v6[24] = 0x20;  // 2000:: to 2000::: global addresses (link-scope IPv6 never leaves, OutboundRoute6)
  const std::vector<Row> rows = {
      {"server: to the client's address", true, ipv4(kSiteHost, kClientAddr), std::nullopt},
      {"server: to an address nobody has", true, ipv4(kSiteHost, 0x0A4D0009), Drop::tx_no_route},
      {"server: IPv6 to a session without IPv6", true, v6, Drop::tx_no_route},
      {"server: not IP", true, std::vector<std::uint8_t>(40, 0x00), Drop::tx_not_ip},
      {"server: IPv4 shorter than a header", true, std::vector<std::uint8_t>(19, 0x45), Drop::tx_not_ip},
      {"client: anything IPv4 goes to the one session", false, ipv4(kClientAddr, 0x08080808), std::nullopt},
      {"client: IPv6 too", false, v6, std::nullopt},
      {"client: empty", false, {}, Drop::tx_not_ip},
  };
  for (const Row& row : rows) {
    End end(row.server, kServerSid, kClientSid);
    socklen_t len = 0;
    auto ep = v4("192.0.2.10", 40000, len);
    std::memcpy(&end.session->endpoint, &ep, len);
    end.session->endpoint_len = len;
    Sent s = send(end, row.packet, t0());
    if (row.drop) {
      EXPECT_EQ(s.out.action, Outbound::Action::drop) << row.name;
      EXPECT_EQ(s.out.reason, *row.drop) << row.name << ": " << to_string(s.out.reason);
      EXPECT_EQ(end.core.drops().get(*row.drop), 1u) << row.name;
    } else {
      EXPECT_EQ(s.out.action, Outbound::Action::send_udp) << row.name << ": " << to_string(s.out.reason);
      EXPECT_EQ(s.out.length, row.packet.size() + data::kOverhead) << row.name;
    }
  }
  ForwardingCore empty(End::options(false, false));
  std::vector<std::uint8_t> slot(2048);
  slot[data::kSealHeadroom] = 0x45;
  sockaddr_storage to{};
  socklen_t to_len = 0;
  EXPECT_EQ(empty.outbound(slot, 20, t0(), to, to_len).reason, Drop::tx_no_route);  // client before its session
}

// The server's inner rules, one row each, with client isolation off and on.
TEST(InboundInner, Table) {
  struct Row {
    const char* name;
    std::vector<std::uint8_t> packet;
    bool client_to_client;
    std::optional<Drop> drop;
  };
  auto v6 = std::vector<std::uint8_t>(40, 0);
  v6[0] = 0x60;
  v6[8] = v6[24] = 0x20;  // 2000:: to 2000::: global addresses (link-scope IPv6 never leaves, OutboundRoute6)
  const std::vector<Row> rows = {
      {"to a site host", ipv4(kClientAddr, kSiteHost), false, std::nullopt},
      {"to the server's tunnel address", ipv4(kClientAddr, kServerAddr), false, std::nullopt},
      {"spoofed source", ipv4(kOtherClient, kSiteHost), false, Drop::rx_spoofed_source},
      {"spoofed source, isolation off", ipv4(kOtherClient, kSiteHost), true, Drop::rx_spoofed_source},
      {"to another client, isolation on", ipv4(kClientAddr, kOtherClient), false, Drop::rx_client_to_client},
      {"to another client, isolation off", ipv4(kClientAddr, kOtherClient), true, std::nullopt},
      {"IPv6 (no IPv6 pool)", v6, false, Drop::rx_bad_inner},
  };
  for (const Row& row : rows) {
    End server(true, kServerSid, kClientSid, row.client_to_client);
    End client(false, kClientSid, kServerSid);
    socklen_t len = 0;
    auto server_ep = v4("198.51.100.1", 51820, len);
    std::memcpy(&client.session->endpoint, &server_ep, len);
    client.session->endpoint_len = len;
    Sent s = send(client, row.packet, t0());
    ASSERT_EQ(s.out.action, Outbound::Action::send_udp) << row.name;
    auto laptop = v4("192.0.2.10", 40000, len);
    Got g = receive_udp(server, s.frame, laptop, len, t0());
    if (row.drop) {
      EXPECT_EQ(g.in.action, Inbound::Action::drop) << row.name;
      EXPECT_EQ(g.in.reason, *row.drop) << row.name << ": " << to_string(g.in.reason);
      EXPECT_EQ(server.core.drops().get(*row.drop), 1u) << row.name;
      // A policy drop is not a loss: the session's rx_dropped counts frames that did not open.
      EXPECT_EQ(server.session->rx_dropped.load(), 0u) << row.name;
    } else {
      EXPECT_EQ(g.in.action, Inbound::Action::deliver) << row.name << ": " << to_string(g.in.reason);
      EXPECT_EQ(g.packet, row.packet) << row.name;
    }
    // Authenticated either way: the session is alive and its endpoint known.
    EXPECT_NE(server.session->last_rx_ns.load(), 0) << row.name;
  }
}

// --- inner IPv6 (pool6): routing by the 16-octet key, the same inner rules, MSS mtu-60 ---

// An IPv6 packet (UDP) of `size` bytes between two addresses given as text.
std::vector<std::uint8_t> ipv6(std::string_view src, std::string_view dst, std::size_t size = 80, std::uint8_t next = 17) {
  std::vector<std::uint8_t> p(size, 0x5A);
  std::fill(p.begin(), p.begin() + 40, 0);
  p[0] = 0x60;
  p[4] = static_cast<std::uint8_t>((size - 40) >> 8);
  p[5] = static_cast<std::uint8_t>(size - 40);
  p[6] = next;
  p[7] = 64;
  const IpAddress source = *IpAddress::parse(src), dest = *IpAddress::parse(dst);
  const auto s = source.bytes();
  const auto d = dest.bytes();
  std::copy(s.begin(), s.end(), p.begin() + 8);
  std::copy(d.begin(), d.end(), p.begin() + 24);
  return p;
}

// An IPv6 TCP SYN with an MSS option of `mss` (option at offset 60).
std::vector<std::uint8_t> tcp6_syn(std::string_view src, std::string_view dst, std::uint16_t mss) {
  std::vector<std::uint8_t> p = ipv6(src, dst, 64, 6);
  std::fill(p.begin() + 40, p.end(), 0);
  p[52] = 0x60;  // data offset 6 words
  p[53] = 0x02;  // SYN
  p[60] = 2;
  p[61] = 4;
  p[62] = static_cast<std::uint8_t>(mss >> 8);
  p[63] = static_cast<std::uint8_t>(mss);
  return p;
}

std::uint16_t mss6_of(std::span<const std::uint8_t> p) { return static_cast<std::uint16_t>(p[62] << 8 | p[63]); }

TEST(OutboundRoute6, Table) {
  struct Row {
    const char* name;
    bool pool6;
    std::vector<std::uint8_t> packet;
    std::optional<Drop> drop;
  };
  const std::vector<Row> rows = {
      {"to the client's IPv6 address", true, ipv6("2001:db8::80", "fd00:77::2"), std::nullopt},
      {"to an IPv6 address nobody has", true, ipv6("2001:db8::80", "fd00:77::9"), Drop::tx_no_route},
      {"IPv6 without a pool6", false, ipv6("2001:db8::80", "fd00:77::2"), Drop::tx_no_route},
      {"IPv6 shorter than its header", true, std::vector<std::uint8_t>(39, 0x60), Drop::tx_not_ip},
      {"IPv4 beside it still routes", true, ipv4(kSiteHost, kClientAddr), std::nullopt},
      {"router solicitation (fe80:: to ff02::2)", true, ipv6("fe80::1", "ff02::2"), Drop::tx_link_scope},
      {"MLD report from ::", true, ipv6("::", "ff02::16"), Drop::tx_link_scope},
      {"to a link-local address", true, ipv6("fd00:77::1", "fe80::2"), Drop::tx_link_scope},
      {"interface-local multicast", true, ipv6("fd00:77::1", "ff01::1"), Drop::tx_link_scope},
  };
  for (const Row& row : rows) {
    End end(true, kServerSid, kClientSid, false, row.pool6);
    socklen_t len = 0;
    auto ep = v4("192.0.2.10", 40000, len);
    std::memcpy(&end.session->endpoint, &ep, len);
    end.session->endpoint_len = len;
    Sent s = send(end, row.packet, t0());
    if (row.drop) {
      EXPECT_EQ(s.out.action, Outbound::Action::drop) << row.name;
      EXPECT_EQ(s.out.reason, *row.drop) << row.name << ": " << to_string(s.out.reason);
    } else {
      EXPECT_EQ(s.out.action, Outbound::Action::send_udp) << row.name << ": " << to_string(s.out.reason);
    }
  }
  // Removing the session removes its IPv6 route too.
  End end(true, kServerSid, kClientSid, false, true);
  end.core.remove_session(kServerSid);
  EXPECT_EQ(send(end, ipv6("2001:db8::80", "fd00:77::2"), t0()).out.reason, Drop::tx_no_route);
}

TEST(InboundInner6, Table) {
  struct Row {
    const char* name;
    std::vector<std::uint8_t> packet;
    bool client_to_client;
    std::optional<Drop> drop;
  };
  const std::vector<Row> rows = {
      {"to a site host", ipv6("fd00:77::2", "2001:db8::80"), false, std::nullopt},
      {"to the server's inner IPv6 address", ipv6("fd00:77::2", "fd00:77::1"), false, std::nullopt},
      {"spoofed IPv6 source", ipv6("fd00:77::3", "2001:db8::80"), false, Drop::rx_spoofed_source},
      {"another pool6 address as source", ipv6("fd00:77::9", "fd00:77::1"), false, Drop::rx_spoofed_source},
      {"to another client, isolation on", ipv6("fd00:77::2", "fd00:77::3"), false, Drop::rx_client_to_client},
      {"to another client, isolation off", ipv6("fd00:77::2", "fd00:77::3"), true, std::nullopt},
      {"IPv4 source rule unchanged", ipv4(kOtherClient, kSiteHost), false, Drop::rx_spoofed_source},
  };
  for (const Row& row : rows) {
    End server(true, kServerSid, kClientSid, row.client_to_client, true);
    End client(false, kClientSid, kServerSid);
    socklen_t len = 0;
    auto server_ep = v4("198.51.100.1", 51820, len);
    std::memcpy(&client.session->endpoint, &server_ep, len);
    client.session->endpoint_len = len;
    Sent s = send(client, row.packet, t0());
    ASSERT_EQ(s.out.action, Outbound::Action::send_udp) << row.name;
    auto laptop = v4("192.0.2.10", 40000, len);
    Got g = receive_udp(server, s.frame, laptop, len, t0());
    if (row.drop) {
      EXPECT_EQ(g.in.action, Inbound::Action::drop) << row.name;
      EXPECT_EQ(g.in.reason, *row.drop) << row.name << ": " << to_string(g.in.reason);
      EXPECT_EQ(server.core.drops().get(*row.drop), 1u) << row.name;
    } else {
      EXPECT_EQ(g.in.action, Inbound::Action::deliver) << row.name << ": " << to_string(g.in.reason);
      EXPECT_EQ(g.packet, row.packet) << row.name;
    }
  }
}

// IPv6 SYNs are clamped to mtu - 60 both ways (IPv4 ones to mtu - 40).
TEST(MssClamp6, BothDirections) {
  End server(true, kServerSid, kClientSid, false, true);
  End client(false, kClientSid, kServerSid);
  socklen_t len = 0;
  auto server_ep = v4("198.51.100.1", 51820, len);
  std::memcpy(&client.session->endpoint, &server_ep, len);
  client.session->endpoint_len = len;
  auto laptop = v4("192.0.2.10", 40000, len);
  // Client -> server: clamped by the client's core on the way in and checked at the server.
  Sent up = send(client, tcp6_syn("fd00:77::2", "2001:db8::80", 1460), t0());
  ASSERT_EQ(up.out.action, Outbound::Action::send_udp);
  Got at_server = receive_udp(server, up.frame, laptop, len, t0());
  ASSERT_EQ(at_server.in.action, Inbound::Action::deliver) << to_string(at_server.in.reason);
  EXPECT_EQ(mss6_of(at_server.packet), 1340);
  // Server -> client: a SYN-ACK from the site clamped too.
  Sent down = send(server, tcp6_syn("2001:db8::80", "fd00:77::2", 8960), t0());
  ASSERT_EQ(down.out.action, Outbound::Action::send_udp) << to_string(down.out.reason);
  Got at_client = receive_udp(client, down.frame, server_ep, len, t0());
  ASSERT_EQ(at_client.in.action, Inbound::Action::deliver);
  EXPECT_EQ(mss6_of(at_client.packet), 1340);
  // A small MSS is left alone; IPv4 still gets mtu - 40.
  Sent small = send(client, tcp6_syn("fd00:77::2", "2001:db8::80", 1200), t0());
  EXPECT_EQ(mss6_of(receive_udp(server, small.frame, laptop, len, t0()).packet), 1200);
  Sent v4syn = send(client, tcp_syn(kClientAddr, kSiteHost, 1460), t0());
  EXPECT_EQ(mss_of(receive_udp(server, v4syn.frame, laptop, len, t0()).packet), 1360);
}

// The client takes what its server sends: no inner rules there.
TEST_F(BackToBack, ClientHasNoInnerRules) {
  up(ipv4(kClientAddr, kSiteHost), t0());
  auto odd = ipv4(kOtherClient, kOtherClient);
  Sent down = send(server, ipv4(kSiteHost, kClientAddr), t0());  // routed by destination only
  ASSERT_EQ(down.out.action, Outbound::Action::send_udp);
  EXPECT_EQ(receive_udp(client, down.frame, server_ep, server_len, t0()).in.action, Inbound::Action::deliver);
}

// Frames that must not authenticate, one row per receiver reason, and what they leave behind.
TEST_F(BackToBack, UnauthenticatedFramesDropByReasonAndChangeNothing) {
  auto packet = ipv4(kClientAddr, kSiteHost);
  Sent good = send(client, packet, t0());
  ASSERT_EQ(receive_udp(server, good.frame, laptop, laptop_len, t0()).in.action, Inbound::Action::deliver);
  socklen_t len = 0;
  auto attacker = v4("203.0.113.66", 6666, len);

  struct Row {
    const char* name;
    std::vector<std::uint8_t> frame;
    Drop drop;
  };
  auto forged = send(client, packet, t0()).frame;
  forged[forged.size() - 1] ^= 1;
  auto other_session = send(client, packet, t0()).frame;
  other_session[6] ^= 0x40;  // GRE key: another session id
  auto no_epoch = send(client, packet, t0()).frame;
  no_epoch[7] = 9;  // GRE key: an epoch nobody installed
  const std::vector<Row> rows = {
      {"replayed", good.frame, Drop::rx_replayed},
      {"forged tag", forged, Drop::rx_auth_failed},
      {"unknown session", other_session, Drop::rx_unknown_session},
      {"unknown epoch", no_epoch, Drop::rx_unknown_epoch},
      {"not GRE", std::vector<std::uint8_t>(64, 0xEE), Drop::rx_bad_header},
      {"too short", std::vector<std::uint8_t>(5, 0x30), Drop::rx_bad_header},
  };
  const auto last_rx = server.session->last_rx_ns.load();
  for (const Row& row : rows) {
    Got g = receive_udp(server, row.frame, attacker, len, t0() + 5s);
    EXPECT_EQ(g.in.action, Inbound::Action::drop) << row.name;
    EXPECT_EQ(g.in.reason, row.drop) << row.name << ": " << to_string(g.in.reason);
    EXPECT_EQ(g.in.session, nullptr) << row.name;
    EXPECT_GE(server.core.drops().get(row.drop), 1u) << row.name;
  }
  // No state moved: the endpoint is still the laptop's and the liveness stamp is unchanged.
  sockaddr_storage to{};
  socklen_t to_len = 0;
  ASSERT_TRUE(ForwardingCore::endpoint_of(*server.session, to, to_len));
  EXPECT_EQ(text_of(to), "192.0.2.10:40000");
  EXPECT_EQ(server.session->last_rx_ns.load(), last_rx);
}

TEST_F(BackToBack, EchoRequestIsAnsweredWithoutReflectingItsData) {
  // A request carrying 40 bytes of data: the reply must carry none (no amplification).
  std::vector<std::uint8_t> slot(256);
  std::vector<std::uint8_t> filler(40, 0x77);
  data::LcpEcho echo{data::LcpEchoKind::request, 7, 0xC1C1C1C1, filler};
  std::size_t len = data::encode_lcp_echo(echo, std::span(slot).subspan(data::kSealHeadroom));
  auto sealed = client.session->sender.seal(data::PppProtocol::lcp, slot, len, t0());
  ASSERT_TRUE(sealed.ok());
  Got g = receive_udp(server, std::vector<std::uint8_t>(slot.begin(), slot.begin() + sealed.length), laptop,
                      laptop_len, t0());
  ASSERT_EQ(g.in.action, Inbound::Action::reply);
  EXPECT_EQ(g.in.via, Transport::udp);
  EXPECT_EQ(g.packet.size(), data::kOverhead + data::kLcpEchoHeaderSize);
  // The reply opens at the client and proves the UDP path both ways.
  Got back = receive_udp(client, g.packet, server_ep, server_len, t0() + 1ms);
  EXPECT_EQ(back.in.action, Inbound::Action::none);
  EXPECT_EQ(client.session->last_udp_echo_reply_ns.load(), (t0() + 1ms).time_since_epoch().count());
}

TEST_F(BackToBack, EchoComesBackTheWayItCame) {
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> buf{};
  std::size_t n = client.core.seal_echo_request(*client.session, 1, t0(), buf);
  ASSERT_GT(n, 0u);
  Got over_tls = receive_tls(server, std::vector<std::uint8_t>(buf.begin(), buf.begin() + n), t0());
  ASSERT_EQ(over_tls.in.action, Inbound::Action::reply);
  EXPECT_EQ(over_tls.in.via, Transport::tls);
  EXPECT_FALSE(over_tls.in.switched_to);  // an echo is maybe a probe: no transport switch
  // A reply over TLS keeps the session alive but proves nothing about UDP.
  Got back = receive_tls(client, over_tls.packet, t0() + 1ms);
  EXPECT_EQ(back.in.action, Inbound::Action::none);
  EXPECT_EQ(client.session->last_udp_echo_reply_ns.load(), 0);
  EXPECT_EQ(client.session->last_rx_ns.load(), (t0() + 1ms).time_since_epoch().count());

  n = client.core.seal_echo_request(*client.session, 2, t0(), buf);
  Got over_udp = receive_udp(server, std::vector<std::uint8_t>(buf.begin(), buf.begin() + n), laptop, laptop_len, t0());
  ASSERT_EQ(over_udp.in.action, Inbound::Action::reply);
  EXPECT_EQ(over_udp.in.via, Transport::udp);
}

// Roaming: the laptop moves to another network (a new outer address, not only a port). Its next
// authenticated datagram moves the endpoint; the session, its keys and counters stay.
TEST_F(BackToBack, RoamingToANewAddressKeepsTheSession) {
  ASSERT_EQ(up(ipv4(kClientAddr, kSiteHost), t0()).in.action, Inbound::Action::deliver);
  socklen_t len = 0;
  auto moved = v4("172.16.5.20", 53000, len);  // another subnet
  Got g = up(ipv4(kClientAddr, kSiteHost), t0() + 10s, &moved);
  ASSERT_EQ(g.in.action, Inbound::Action::deliver);
  EXPECT_TRUE(g.in.peer_moved);
  EXPECT_EQ(server.session->last_rx_ns.load(), (t0() + 10s).time_since_epoch().count());
  Sent down = send(server, ipv4(kSiteHost, kClientAddr), t0() + 10s);
  ASSERT_EQ(down.out.action, Outbound::Action::send_udp);
  EXPECT_EQ(text_of(down.to), "172.16.5.20:53000");
  // The same address again is no move.
  EXPECT_FALSE(up(ipv4(kClientAddr, kSiteHost), t0() + 11s, &moved).in.peer_moved);
  // A replay of an old datagram from the old address cannot pull the endpoint back.
  Sent old = send(client, ipv4(kClientAddr, kSiteHost), t0() + 12s);
  ASSERT_EQ(receive_udp(server, old.frame, moved, len, t0() + 12s).in.action, Inbound::Action::deliver);
  EXPECT_EQ(receive_udp(server, old.frame, laptop, laptop_len, t0() + 13s).in.reason, Drop::rx_replayed);
  ASSERT_TRUE(ForwardingCore::endpoint_of(*server.session, down.to, down.to_len));
  EXPECT_EQ(text_of(down.to), "172.16.5.20:53000");
}

// Rekey overlap: frames sealed under epoch 0 that arrive after the first epoch-1 frame still
// open (previous key kept for the overlap), and stop opening once it is over.
TEST_F(BackToBack, RekeyOverlapAcceptsLateFramesOfThePreviousEpoch) {
  auto packet = ipv4(kClientAddr, kSiteHost);
  Sent late1 = send(client, packet, t0());
  Sent late2 = send(client, packet, t0());
  EXPECT_EQ(late1.frame[7], 0);  // epoch byte of the GRE key
  const TimePoint after = t0() + data::kRekeyAfterTime + 1s;
  Sent fresh = send(client, packet, after);
  EXPECT_EQ(fresh.frame[7], 1);  // the sender switched to epoch 1
  EXPECT_EQ(receive_udp(server, fresh.frame, laptop, laptop_len, after).in.action, Inbound::Action::deliver);
  EXPECT_EQ(receive_udp(server, late1.frame, laptop, laptop_len, after + 1s).in.action, Inbound::Action::deliver);
  Got too_late = receive_udp(server, late2.frame, laptop, laptop_len, after + data::kPreviousKeyOverlap + 1s);
  EXPECT_EQ(too_late.in.reason, Drop::rx_unknown_epoch);
  // The data path asks the control thread for epoch 2 once, in both directions.
  auto wants = ForwardingCore::take_key_wants(*server.session);
  EXPECT_EQ(wants.receive, 2u);
  EXPECT_FALSE(ForwardingCore::take_key_wants(*server.session).receive);
  EXPECT_EQ(ForwardingCore::take_key_wants(*client.session).send, 2u);
}

TEST(SealFailure, IsCountedAndAsksForTheKey) {
  ForwardingCore core(End::options(false, false));
  auto session = std::make_shared<PeerSession>(kClientSid, kServerSid, data::Suite::chacha20_poly1305, data::Limits{});
  session->endpoint_len = sizeof(sockaddr_in);
  core.add_session(session);
  std::vector<std::uint8_t> slot(2048);
  auto packet = ipv4(kClientAddr, kSiteHost);
  std::copy(packet.begin(), packet.end(), slot.begin() + data::kSealHeadroom);
  sockaddr_storage to{};
  socklen_t to_len = 0;
  Outbound out = core.outbound(slot, packet.size(), t0(), to, to_len);
  EXPECT_EQ(out.reason, Drop::tx_seal_failed);
  ASSERT_NE(out.session, nullptr);  // the caller checks its epochs
  EXPECT_EQ(ForwardingCore::take_key_wants(*session).send, data::kFirstEpoch);
  EXPECT_EQ(session->tx_dropped.load(), 1u);
}

// The TLS fallback: the server follows its client. Data over TLS moves the session to TLS (and
// the server's own traffic with it), data over UDP moves it back; echoes move nothing.
TEST_F(BackToBack, ServerFollowsItsClientBetweenUdpAndTls) {
  ASSERT_EQ(up(ipv4(kClientAddr, kSiteHost), t0()).in.action, Inbound::Action::deliver);
  client.session->transport = Transport::tls;  // the client's monitor decided (transport_monitor.hpp)
  Sent s = send(client, ipv4(kClientAddr, kSiteHost), t0() + 1s);
  ASSERT_EQ(s.out.action, Outbound::Action::send_tls);
  Got g = receive_tls(server, s.frame, t0() + 1s);
  ASSERT_EQ(g.in.action, Inbound::Action::deliver);
  EXPECT_EQ(g.in.switched_to, Transport::tls);
  EXPECT_EQ(server.session->transport.load(), Transport::tls);
  EXPECT_EQ(server.session->tls_rx_frames.load(), 1u);
  Sent down = send(server, ipv4(kSiteHost, kClientAddr), t0() + 1s);
  ASSERT_EQ(down.out.action, Outbound::Action::send_tls);
  EXPECT_EQ(receive_tls(client, down.frame, t0() + 1s).in.action, Inbound::Action::deliver);
  // A second TLS frame switches nothing more.
  EXPECT_FALSE(receive_tls(server, send(client, ipv4(kClientAddr, kSiteHost), t0() + 2s).frame, t0() + 2s)
                   .in.switched_to);

  client.session->transport = Transport::udp;  // UDP works again
  Got back = up(ipv4(kClientAddr, kSiteHost), t0() + 3s);
  EXPECT_EQ(back.in.switched_to, Transport::udp);
  EXPECT_EQ(send(server, ipv4(kSiteHost, kClientAddr), t0() + 3s).out.action, Outbound::Action::send_udp);
  EXPECT_EQ(server.session->transport_switches.load(), 2u);
}

// The end (and the start) of a momentary fallback as CI saw it: the frames of the path the client
// left still arrive, interleaved with its frames on the new one (its TLS queue draining after it
// went back to UDP; UDP datagrams in flight behind its first TLS frames). Rows: which path the
// client leaves, and whether a frame of the new path or a straggler of the old one arrives first.
// Every frame is delivered; the server switches once per direction and ends where the client is.
TEST_F(BackToBack, InterleavedPathsSwitchOncePerDirection) {
  struct Row {
    Transport from, to;
    bool new_first;
  };
  const Row rows[] = {{Transport::udp, Transport::tls, true}, {Transport::udp, Transport::tls, false},
                      {Transport::tls, Transport::udp, true}, {Transport::tls, Transport::udp, false}};
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string(to_string(row.from)) + " -> " + std::string(to_string(row.to)) +
                 (row.new_first ? ", new path first" : ", old path first"));
    End srv{true, kServerSid, kClientSid};
    End cli{false, kClientSid, kServerSid};
    std::memcpy(&cli.session->endpoint, &server_ep, server_len);
    cli.session->endpoint_len = server_len;
    TimePoint now = t0();
    // The client's frames, sealed in order on the transport it had chosen at the time.
    auto seal = [&](Transport t, int n) {
      cli.session->transport = t;
      std::vector<std::vector<std::uint8_t>> frames;
      for (int i = 0; i < n; ++i) {
        Sent s = send(cli, ipv4(kClientAddr, kSiteHost, 60, static_cast<std::uint8_t>(i)), now);
        EXPECT_EQ(s.out.action, t == Transport::tls ? Outbound::Action::send_tls : Outbound::Action::send_udp);
        frames.push_back(s.frame);
      }
      return frames;
    };
    int switches_to[2] = {0, 0};
    auto arrive = [&](Transport via, std::vector<std::uint8_t> frame) {
      now += 100us;
      Got g = via == Transport::udp ? receive_udp(srv, std::move(frame), laptop, laptop_len, now)
                                    : receive_tls(srv, std::move(frame), now);
      EXPECT_EQ(g.in.action, Inbound::Action::deliver) << to_string(g.in.reason);
      if (g.in.switched_to) ++switches_to[static_cast<int>(*g.in.switched_to)];
    };
    // The server starts where the client was, as after its first switch there.
    arrive(row.from, seal(row.from, 1).front());
    switches_to[0] = switches_to[1] = 0;
    const std::uint64_t before = srv.session->transport_switches.load();

    auto old_frames = seal(row.from, 30);  // sealed before the client changed its mind
    auto new_frames = seal(row.to, 30);    // sealed after
    for (std::size_t i = 0; i < old_frames.size(); ++i) {
      if (row.new_first) arrive(row.to, new_frames[i]);
      arrive(row.from, old_frames[i]);
      if (!row.new_first) arrive(row.to, new_frames[i]);
    }
    EXPECT_EQ(switches_to[static_cast<int>(row.to)], 1);
    EXPECT_EQ(switches_to[static_cast<int>(row.from)], 0);
    EXPECT_EQ(srv.session->transport_switches.load() - before, 1u);
    EXPECT_EQ(srv.session->transport.load(), row.to);
    EXPECT_EQ(srv.session->rx_packets.load(), 61u);
  }
}

TEST_F(BackToBack, TlsFramesSpeakForTheirOwnSessionOnly) {
  End stranger(false, 0x000333, kServerSid + 1);  // keyed like the client, another session id
  Sent s = send(client, ipv4(kClientAddr, kSiteHost), t0());
  std::vector<std::uint8_t> frame = s.frame;
  Got g;
  std::array<std::uint8_t, ForwardingCore::kEchoFrameMax> reply{};
  g.in = server.core.inbound_tls(stranger.session, frame, t0(), reply);
  EXPECT_EQ(g.in.reason, Drop::rx_bad_header);
  // The client keeps its own transport: only the server follows.
  auto echo = ipv4(kSiteHost, kClientAddr);
  up(ipv4(kClientAddr, kSiteHost), t0());
  Sent down = send(server, echo, t0());
  EXPECT_FALSE(receive_tls(client, down.frame, t0()).in.switched_to);
  EXPECT_EQ(client.session->transport.load(), Transport::udp);
}

TEST_F(BackToBack, MssIsClampedBothWays) {
  Got at_server = up(tcp_syn(kClientAddr, kSiteHost, 1460), t0());
  ASSERT_EQ(at_server.in.action, Inbound::Action::deliver);
  EXPECT_EQ(mss_of(at_server.packet), 1360);  // mtu 1400 - 40
  Sent down = send(server, tcp_syn(kSiteHost, kClientAddr, 1460), t0());
  Got at_client = receive_udp(client, down.frame, server_ep, server_len, t0());
  ASSERT_EQ(at_client.in.action, Inbound::Action::deliver);
  EXPECT_EQ(mss_of(at_client.packet), 1360);
  EXPECT_EQ(mss_of(up(tcp_syn(kClientAddr, kSiteHost, 1200), t0()).packet), 1200);  // already small
}

TEST_F(BackToBack, RemovedSessionsKeepTheirTrafficInTheTotals) {
  up(ipv4(kClientAddr, kSiteHost, 100), t0());
  server.core.remove_session(kServerSid);
  TrafficTotals t = server.core.traffic_totals();
  EXPECT_EQ(t.rx_packets, 1u);
  EXPECT_EQ(t.rx_bytes, 100u);
  EXPECT_TRUE(server.core.sessions().empty());
  Sent s = send(server, ipv4(kSiteHost, kClientAddr), t0());
  EXPECT_EQ(s.out.reason, Drop::tx_no_route);
}

TEST(Drop, EveryReasonHasADistinctName) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < kDropCount; ++i) {
    auto name = to_string(static_cast<Drop>(i));
    EXPECT_NE(name, "?");
    for (auto other : names) EXPECT_NE(name, other);
    names.push_back(name);
  }
}

}  // namespace
}  // namespace postern::tunnel::forward
