// End-to-end negotiation between a ClientNegotiator and a ServerNegotiator connected in memory:
// a Pair pumps SendBytes from one to the other (as TLS would), answers VerifyPassword like the
// daemon, and records everything else. Time is injected; nothing here touches a socket or clock.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/log.hpp"
#include "tunnel/control/negotiator_client.hpp"
#include "tunnel/control/negotiator_server.hpp"

namespace postern::tunnel::control {
namespace {

using namespace std::chrono_literals;
const TimePoint t0 = TimePoint{} + 1000s;

IpAddress ip(std::string_view s) { return *IpAddress::parse(s); }

ClientConfig client_config(std::optional<std::string> user = "alice", std::string_view password = "good") {
  ClientConfig c;
  c.receive_session_id = 0x111111;
  c.echo_magic = 0xc0c0c0c0;
  c.user = std::move(user);
  if (!password.empty()) c.password = SecretBytes(password);
  c.ciphers = {Cipher::chacha20_poly1305, Cipher::aes_256_gcm};
  c.log_id = "c1";
  return c;
}

ServerConfig server_config(AuthPolicy policy = AuthPolicy::password) {
  ServerConfig s;
  s.policy = policy;
  s.receive_session_id = 0x222222;
  s.echo_magic = 0x5e5e5e5e;
  s.data_port = 4500;
  s.ciphers = {Cipher::aes_256_gcm, Cipher::chacha20_poly1305};
  s.max_mtu = 1420;
  s.rekey_interval = 3600s;
  s.rekey_packets = 1u << 20;
  s.dns = {ip("10.77.0.1")};
  s.domains = {*dns::parse_domain("site.example"), *dns::parse_domain("~intranet.site.example")};
  s.routes = {*IpPrefix::parse("192.168.10.0/24"), *IpPrefix::parse("10.0.0.0/8")};
  s.log_id = "s1";
  return s;
}

struct Side {
  std::vector<Action> events;  // everything except SendBytes
  std::vector<MessageType> sent;  // types of messages sent, in order

  template <typename T>
  const T* find() const {
    for (const auto& a : events) {
      if (auto p = std::get_if<T>(&a)) return p;
    }
    return nullptr;
  }
};

struct Pair {
  AddressPool& pool;
  ClientNegotiator client;
  ServerNegotiator server;
  Side c, s;
  bool password_ok = true;
  bool backend_down = false;          // the directory cannot answer
  std::optional<IpAddress> framed;         // the directory's Framed-IP-Address
  bool auto_verify = true;
  bool deliver_to_server = true;
  bool deliver_to_client = true;

  Pair(AddressPool& p, ClientConfig cc, ServerConfig sc, PeerCertificate cert = {}, AddressPool* pool6 = nullptr)
      : pool(p), client(std::move(cc)), server(std::move(sc), std::move(cert), p, t0, pool6) {}

  static void record_sent(Side& side, const std::vector<std::uint8_t>& bytes) {
    ControlReader r;
    r.feed(bytes);
    while (auto f = r.next()) side.sent.push_back(f->type);
  }

  // Moves bytes both ways until neither side has anything to say.
  void pump(TimePoint now) {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& a : client.take_actions()) {
        if (auto* b = std::get_if<SendBytes>(&a)) {
          record_sent(c, b->bytes);
          if (deliver_to_server) server.feed(b->bytes, now);
          moved = true;
        } else {
          c.events.push_back(std::move(a));
        }
      }
      for (auto& a : server.take_actions()) {
        if (auto* b = std::get_if<SendBytes>(&a)) {
          record_sent(s, b->bytes);
          if (deliver_to_client) client.feed(b->bytes, now);
          moved = true;
        } else if (auto* v = std::get_if<VerifyPassword>(&a); v && auto_verify) {
          bool ok = password_ok && v->password.view() == "good";
          s.events.push_back(std::move(a));
          if (backend_down) server.on_password_verified(PasswordCheck::unavailable, now);
          else server.on_password_verified(ok ? PasswordCheck::accepted : PasswordCheck::rejected, now, framed);
          moved = true;
        } else {
          s.events.push_back(std::move(a));
        }
      }
    }
  }

  void run(TimePoint now = t0) {
    client.start(now);
    pump(now);
  }
};

struct Fixture : ::testing::Test {
  AddressPool pool{*IpPrefix::parse("10.77.0.0/24"), 300s};
};

TEST_F(Fixture, PasswordNegotiationEndToEnd) {
  Pair p(pool, client_config(), server_config());
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  ASSERT_EQ(p.server.state(), ServerNegotiator::State::established);
  auto* ce = p.c.find<Established>();
  auto* se = p.s.find<Established>();
  ASSERT_TRUE(ce && se);
  const auto& cp = ce->params;
  const auto& sp = se->params;
  EXPECT_EQ(cp.local_session_id, 0x111111u);
  EXPECT_EQ(cp.peer_session_id, 0x222222u);
  EXPECT_EQ(sp.local_session_id, 0x222222u);
  EXPECT_EQ(sp.peer_session_id, 0x111111u);
  EXPECT_EQ(cp.client_address, ip("10.77.0.2"));
  EXPECT_EQ(sp.client_address, cp.client_address);
  EXPECT_EQ(cp.server_address, ip("10.77.0.1"));
  EXPECT_EQ(cp.prefix_len, 24);
  EXPECT_EQ(cp.mtu, 1400);
  EXPECT_EQ(sp.mtu, 1400);
  EXPECT_EQ(cp.keepalive, 10s);
  EXPECT_EQ(cp.dead_peer, 60s);
  EXPECT_EQ(cp.dns, sp.dns);
  EXPECT_EQ(cp.domains, sp.domains);
  ASSERT_EQ(cp.domains.size(), 2u);
  EXPECT_EQ(cp.domains[1].to_string(), "~intranet.site.example");
  EXPECT_EQ(cp.routes, sp.routes);
  EXPECT_EQ(cp.routes.size(), 2u);
  EXPECT_EQ(cp.cipher, Cipher::chacha20_poly1305);  // client's preference, server accepts it
  EXPECT_EQ(sp.cipher, cp.cipher);
  EXPECT_EQ(cp.data_port, 4500);
  EXPECT_EQ(cp.rekey_interval, 3600s);
  EXPECT_EQ(cp.rekey_packets, 1u << 20);
  EXPECT_EQ(sp.identity, "alice");
  EXPECT_EQ(cp.identity, "alice");
  ASSERT_TRUE(p.s.find<VerifyPassword>());
  EXPECT_EQ(p.s.find<VerifyPassword>()->user, "alice");
  // The documented sequence: HELLO, LCP req, IPCP req (0.0.0.0), IPCP req (assigned).
  EXPECT_EQ(p.c.sent, (std::vector<MessageType>{MessageType::hello, MessageType::lcp_configure_request,
                                                 MessageType::ipcp_configure_request,
                                                 MessageType::ipcp_configure_request}));
  EXPECT_EQ(p.s.sent, (std::vector<MessageType>{MessageType::auth_ok, MessageType::lcp_configure_ack,
                                                 MessageType::ipcp_configure_nak, MessageType::ipcp_configure_ack,
                                                 MessageType::data_channel}));
  EXPECT_EQ(pool.lease_of("alice"), ip("10.77.0.2"));
}

// The directory down: both sides close with auth_unavailable (the client retries; the daemon
// does not count it as a bad password), the client saw the "temporarily unavailable" AUTH_FAIL.
TEST_F(Fixture, BackendDownIsATemporaryRefusal) {
  Pair p(pool, client_config(), server_config());
  p.backend_down = true;
  p.run();
  ASSERT_TRUE(p.c.find<Closed>() && p.s.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::auth_unavailable);
  EXPECT_EQ(p.s.find<Closed>()->error, errc::auth_unavailable);
  EXPECT_EQ(p.c.find<Closed>()->reason, kAuthUnavailableText);
  EXPECT_EQ(p.s.sent, (std::vector<MessageType>{MessageType::auth_fail}));
  EXPECT_EQ(pool.lease_of("alice"), std::nullopt);
}

// A Framed-IP-Address from the directory is the client's address (not the pool's next free one,
// and not the address the client asked for); outside the pool it fails the session.
TEST_F(Fixture, FramedAddressBecomesTheClientAddress) {
  Pair p(pool, client_config(), server_config());
  p.framed = ip("10.77.0.77");
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  ASSERT_TRUE(p.c.find<Established>());
  EXPECT_EQ(p.c.find<Established>()->params.client_address, ip("10.77.0.77"));
  EXPECT_EQ(pool.lease_of("alice"), ip("10.77.0.77"));

  AddressPool other{*IpPrefix::parse("10.77.0.0/24"), 300s};
  Pair q(other, client_config(), server_config());
  q.framed = ip("10.99.0.5");
  q.run();
  ASSERT_TRUE(q.s.find<Closed>());
  EXPECT_EQ(q.s.find<Closed>()->error, errc::address_unavailable);
  EXPECT_NE(q.s.find<Closed>()->reason.find("outside the pool"), std::string::npos);
  EXPECT_EQ(other.leased(), 0u);
}

// The client's accounting session id reaches the server's parameters (after authentication:
// IPCP follows AUTH_OK) and the ACK echoes it; a client without one gives none.
TEST_F(Fixture, AccountingSessionReachesTheServer) {
  ClientConfig cc = client_config();
  cc.accounting_session = "00c0ffee00c0ffee";
  Pair p(pool, std::move(cc), server_config());
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  ASSERT_TRUE(p.s.find<Established>());
  EXPECT_EQ(p.s.find<Established>()->params.accounting_session, "00c0ffee00c0ffee");

  AddressPool other{*IpPrefix::parse("10.77.0.0/24"), 300s};
  Pair q(other, client_config(), server_config());
  q.run();
  ASSERT_TRUE(q.s.find<Established>());
  EXPECT_EQ(q.s.find<Established>()->params.accounting_session, "");
  // Refused before authentication: the server is not in IPCP yet, so nothing is kept.
  AddressPool third{*IpPrefix::parse("10.77.0.0/24"), 300s};
  Pair r(third, client_config("alice", "bad"), server_config());
  r.run();
  EXPECT_FALSE(r.s.find<Established>());
  EXPECT_EQ(third.leased(), 0u);
}

// A server from before the attribute Configure-Rejects it (RFC 1661 5.4): the client asks again
// without it and gets in; a reject of anything else still fails.
TEST_F(Fixture, ClientDropsTheAccountingSessionAnOldServerRejects) {
  auto last_sent = [](ClientNegotiator& c) {
    ControlReader r;
    for (auto& a : c.take_actions()) {
      if (auto* b = std::get_if<SendBytes>(&a)) r.feed(b->bytes);
    }
    std::optional<Frame> last;
    while (auto f = r.next()) last = std::move(*f);
    return last;
  };
  for (bool only_accounting : {true, false}) {
    ClientConfig cc = client_config(std::nullopt, "");
    cc.accounting_session = "00c0ffee00c0ffee";
    ClientNegotiator c(std::move(cc));
    c.start(t0);
    ASSERT_EQ(last_sent(c)->type, MessageType::hello);
    c.feed(encode_auth_ok(), t0);
    auto lcp = last_sent(c);
    ASSERT_EQ(lcp->type, MessageType::lcp_configure_request);
    LcpOptions lo;
    ASSERT_FALSE(decode_lcp(lcp->body, lo));
    c.feed(encode_lcp(MessageType::lcp_configure_ack, lo), t0);
    auto ipcp = last_sent(c);
    ASSERT_EQ(ipcp->type, MessageType::ipcp_configure_request);
    IpcpOptions req;
    ASSERT_FALSE(decode_ipcp(ipcp->body, req));
    ASSERT_EQ(req.accounting_session, "00c0ffee00c0ffee");
    IpcpOptions rej;
    rej.accounting_session = req.accounting_session;  // what an old server sends back verbatim
    if (!only_accounting) rej.unknown = {{47, {1}}};
    c.feed(encode_ipcp(MessageType::ipcp_configure_reject, rej), t0);
    auto again = last_sent(c);
    if (!only_accounting) {
      EXPECT_EQ(c.state(), ClientNegotiator::State::closed);
      continue;
    }
    ASSERT_TRUE(again);
    ASSERT_EQ(again->type, MessageType::ipcp_configure_request);
    IpcpOptions req2;
    ASSERT_FALSE(decode_ipcp(again->body, req2));
    EXPECT_FALSE(req2.accounting_session);
    EXPECT_EQ(req2.address, req.address);
  }
}

// --- IPv6 inside the tunnel (attributes 39-43) ---

ServerConfig dual_stack_server_config() {
  ServerConfig s = server_config();
  s.dns = {ip("10.77.0.1"), ip("fd00:77::1")};
  s.routes = {*IpPrefix::parse("192.168.10.0/24"), *IpPrefix::parse("::/0"), *IpPrefix::parse("2001:db8:5::/48")};
  return s;
}

ClientConfig ipv6_client_config() {
  ClientConfig c = client_config();
  c.ipv6 = true;
  return c;
}

struct Fixture6 : Fixture {
  AddressPool pool6{*IpPrefix::parse("fd00:77::/112"), 300s};
};

TEST_F(Fixture6, DualStackNegotiationEndToEnd) {
  Pair p(pool, ipv6_client_config(), dual_stack_server_config(), {}, &pool6);
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  auto* ce = p.c.find<Established>();
  auto* se = p.s.find<Established>();
  ASSERT_TRUE(ce && se);
  const auto& cp = ce->params;
  EXPECT_EQ(cp.client_address, ip("10.77.0.2"));
  ASSERT_TRUE(cp.client_address6);
  EXPECT_EQ(*cp.client_address6, ip("fd00:77::2"));
  EXPECT_EQ(cp.prefix6_len, 112);
  EXPECT_EQ(cp.server_address6, ip("fd00:77::1"));
  EXPECT_EQ(se->params.client_address6, cp.client_address6);
  EXPECT_EQ(cp.dns, (std::vector<IpAddress>{ip("10.77.0.1"), ip("fd00:77::1")}));
  ASSERT_EQ(cp.routes.size(), 3u);
  EXPECT_EQ(cp.routes[1].to_string(), "::/0");
  EXPECT_EQ(cp.routes, se->params.routes);
  // The same round trips as IPv4 alone: request, NAK with both families, request, ACK.
  EXPECT_EQ(p.s.sent, (std::vector<MessageType>{MessageType::auth_ok, MessageType::lcp_configure_ack,
                                                 MessageType::ipcp_configure_nak, MessageType::ipcp_configure_ack,
                                                 MessageType::data_channel}));
  EXPECT_EQ(pool6.lease_of("alice"), ip("fd00:77::2"));
  // Closing releases the IPv6 lease into its grace period too.
  p.client.terminate("bye", t0);
  p.pump(t0);
  EXPECT_EQ(pool6.next_expiry(), t0 + 300s);
}

TEST_F(Fixture6, ServerWithoutPool6RejectsAndTheSessionIsIpv4Only) {
  Pair p(pool, ipv6_client_config(), dual_stack_server_config());  // no pool6
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  const auto& cp = p.c.find<Established>()->params;
  EXPECT_FALSE(cp.client_address6);
  EXPECT_EQ(cp.dns, (std::vector<IpAddress>{ip("10.77.0.1")}));  // IPv6 entries never pushed
  ASSERT_EQ(cp.routes.size(), 1u);
  EXPECT_EQ(cp.routes[0].to_string(), "192.168.10.0/24");
  EXPECT_EQ(p.s.sent, (std::vector<MessageType>{MessageType::auth_ok, MessageType::lcp_configure_ack,
                                                 MessageType::ipcp_configure_reject, MessageType::ipcp_configure_nak,
                                                 MessageType::ipcp_configure_ack, MessageType::data_channel}));
}

TEST_F(Fixture6, ClientThatDoesNotAskGetsNoIpv6) {
  Pair p(pool, client_config(), dual_stack_server_config(), {}, &pool6);  // ipv6 = false: an old client's request
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  const auto& cp = p.c.find<Established>()->params;
  EXPECT_FALSE(cp.client_address6);
  EXPECT_FALSE(p.s.find<Established>()->params.client_address6);
  EXPECT_EQ(cp.dns, (std::vector<IpAddress>{ip("10.77.0.1")}));
  EXPECT_EQ(cp.routes.size(), 1u);
  EXPECT_EQ(pool6.leased(), 0u);
}

TEST_F(Fixture6, SmallMtuDoesNotAskForIpv6) {
  ClientConfig cc = ipv6_client_config();
  cc.mtu = 1200;
  Pair p(pool, std::move(cc), dual_stack_server_config(), {}, &pool6);
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  EXPECT_FALSE(p.c.find<Established>()->params.client_address6);
  EXPECT_EQ(pool6.leased(), 0u);
}

TEST_F(Fixture6, StickyIpv6AcrossReconnect) {
  {
    Pair p(pool, ipv6_client_config(), dual_stack_server_config(), {}, &pool6);
    p.run();
    ASSERT_EQ(*p.c.find<Established>()->params.client_address6, ip("fd00:77::2"));
    p.client.terminate("bye", t0);
    p.pump(t0);
  }
  // Someone else connects meanwhile: alice's address stays reserved for her.
  ClientConfig bob = ipv6_client_config();
  bob.user = "bob";
  Pair q(pool, std::move(bob), dual_stack_server_config(), {}, &pool6);
  q.run();
  ASSERT_TRUE(q.c.find<Established>());
  EXPECT_EQ(*q.c.find<Established>()->params.client_address6, ip("fd00:77::3"));
  ClientConfig again = ipv6_client_config();
  again.previous_address6 = ip("fd00:77::2");
  Pair r(pool, std::move(again), dual_stack_server_config(), {}, &pool6);
  r.run();
  ASSERT_TRUE(r.c.find<Established>());
  EXPECT_EQ(*r.c.find<Established>()->params.client_address6, ip("fd00:77::2"));
}

TEST_F(Fixture6, Pool6ExhaustedLeavesTheSessionIpv4Only) {
  AddressPool tiny{*IpPrefix::parse("fd00:77::/124"), 300s};
  for (int i = 0; i < 13; ++i) ASSERT_TRUE(tiny.assign("other" + std::to_string(i), std::nullopt, t0));
  Pair p(pool, ipv6_client_config(), dual_stack_server_config(), {}, &tiny);
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  EXPECT_FALSE(p.c.find<Established>()->params.client_address6);
  EXPECT_EQ(p.c.find<Established>()->params.routes.size(), 1u);
}

// Drives a client by hand up to its first IPCP request and returns it.
struct ClientDriver {
  ClientNegotiator client;
  explicit ClientDriver(ClientConfig cc) : client(std::move(cc)) {}
  std::optional<Frame> last_sent() {
    ControlReader r;
    for (auto& a : client.take_actions()) {
      if (auto* b = std::get_if<SendBytes>(&a)) r.feed(b->bytes);
    }
    std::optional<Frame> last;
    while (auto f = r.next()) last = std::move(*f);
    return last;
  }
  IpcpOptions first_ipcp_request() {
    client.start(t0);
    last_sent();
    client.feed(encode_auth_ok(), t0);
    LcpOptions lo;
    EXPECT_FALSE(decode_lcp(last_sent()->body, lo));
    client.feed(encode_lcp(MessageType::lcp_configure_ack, lo), t0);
    IpcpOptions req;
    EXPECT_FALSE(decode_ipcp(last_sent()->body, req));
    return req;
  }
};

// A server from before attributes 38-43 rejects the unknown ones verbatim (RFC 1661 5.4), both
// in one message: the client asks again without either and continues IPv4 only.
TEST_F(Fixture6, OldServerRejectsAccountingAndIpv6Together) {
  ClientConfig cc = ipv6_client_config();
  cc.accounting_session = "00c0ffee00c0ffee";
  ClientDriver d(std::move(cc));
  IpcpOptions req = d.first_ipcp_request();
  ASSERT_TRUE(req.address6);
  EXPECT_TRUE(req.address6->is_unspecified());
  ASSERT_TRUE(req.accounting_session);
  IpcpOptions rej;
  rej.accounting_session = req.accounting_session;
  rej.unknown = {{39, std::vector<std::uint8_t>(16, 0)}};  // what an old server echoes, raw
  d.client.feed(encode_ipcp(MessageType::ipcp_configure_reject, rej), t0);
  auto again = d.last_sent();
  ASSERT_TRUE(again);
  ASSERT_EQ(again->type, MessageType::ipcp_configure_request);
  IpcpOptions req2;
  ASSERT_FALSE(decode_ipcp(again->body, req2));
  EXPECT_FALSE(req2.accounting_session);
  EXPECT_FALSE(req2.has_ipv6());
  EXPECT_EQ(req2.address, req.address);
}

TEST_F(Fixture6, ClientRefusesIpv6ItDidNotAskFor) {
  ClientDriver d(client_config());
  IpcpOptions req = d.first_ipcp_request();
  EXPECT_FALSE(req.address6);
  IpcpOptions nak;
  nak.address = ip("10.77.0.2");
  nak.prefix_len = 24;
  nak.server_address = ip("10.77.0.1");
  nak.address6 = ip("fd00:77::2");
  d.client.feed(encode_ipcp(MessageType::ipcp_configure_nak, nak), t0);
  EXPECT_EQ(d.client.state(), ClientNegotiator::State::closed);
}

TEST_F(Fixture6, AckWithIncompleteIpv6Fails) {
  ClientDriver d(ipv6_client_config());
  IpcpOptions req = d.first_ipcp_request();
  IpcpOptions nak;
  nak.address = ip("10.77.0.2");
  nak.prefix_len = 24;
  nak.server_address = ip("10.77.0.1");
  nak.address6 = ip("fd00:77::2");  // no prefix6_len / server_address6
  d.client.feed(encode_ipcp(MessageType::ipcp_configure_nak, nak), t0);
  IpcpOptions req2;
  ASSERT_FALSE(decode_ipcp(d.last_sent()->body, req2));
  EXPECT_EQ(req2.address6, ip("fd00:77::2"));
  d.client.feed(encode_ipcp(MessageType::ipcp_configure_ack, req2), t0);
  EXPECT_EQ(d.client.state(), ClientNegotiator::State::closed);
}

TEST_F(Fixture, BadPasswordRefusedOnBothSides) {
  Pair p(pool, client_config("alice", "wrong"), server_config());
  p.run();
  EXPECT_EQ(p.client.state(), ClientNegotiator::State::closed);
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::closed);
  ASSERT_TRUE(p.c.find<Closed>() && p.s.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::auth_failed);
  EXPECT_EQ(p.s.find<Closed>()->error, errc::auth_failed);
  // The server's one text for every cause is not repeated by the client.
  EXPECT_EQ(p.c.find<Closed>()->reason, "authentication failed");
  EXPECT_FALSE(p.c.find<Established>());
  EXPECT_EQ(p.s.sent, std::vector<MessageType>{MessageType::auth_fail});
  EXPECT_EQ(pool.leased(), 0u);
  EXPECT_EQ(p.client.next_deadline(), std::nullopt);
}

struct PolicyCase {
  AuthPolicy policy;
  bool cert;
  bool password;  // client sends user + password (good one)
  bool expect_ok;
  bool expect_verify;
};

TEST_F(Fixture, PolicyMatrix) {
  const PolicyCase cases[] = {
      {AuthPolicy::any, false, false, false, false},        {AuthPolicy::any, true, false, true, false},
      {AuthPolicy::any, false, true, true, true},           {AuthPolicy::any, true, true, true, true},
      {AuthPolicy::certificate, false, false, false, false}, {AuthPolicy::certificate, false, true, false, false},
      {AuthPolicy::certificate, true, false, true, false},  {AuthPolicy::certificate, true, true, true, false},
      {AuthPolicy::password, false, false, false, false},   {AuthPolicy::password, true, false, false, false},
      {AuthPolicy::password, false, true, true, true},      {AuthPolicy::password, true, true, true, true},
      {AuthPolicy::both, false, false, false, false},       {AuthPolicy::both, true, false, false, false},
      {AuthPolicy::both, false, true, false, false},        {AuthPolicy::both, true, true, true, true},
  };
  for (const auto& k : cases) {
    AddressPool local_pool(*IpPrefix::parse("10.77.0.0/24"), 300s);
    PeerCertificate cert;
    // A certificate sent with a password must be the password user's own (CN == user); a
    // certificate alone keeps a CN distinct from the user, so the identity check below tells
    // which credential named the session.
    const std::string cn = k.policy == AuthPolicy::both || k.password ? "alice" : "laptop-cn";
    if (k.cert) cert = {true, cn};
    auto cc = k.password ? client_config("alice", "good") : client_config(std::nullopt, "");
    Pair p(local_pool, std::move(cc), server_config(k.policy), cert);
    p.run();
    std::string label = std::string(to_string(k.policy)) + " cert=" + std::to_string(k.cert) +
                        " pw=" + std::to_string(k.password);
    EXPECT_EQ(p.server.state() == ServerNegotiator::State::established, k.expect_ok) << label;
    EXPECT_EQ(p.client.state() == ClientNegotiator::State::established, k.expect_ok) << label;
    EXPECT_EQ(p.s.find<VerifyPassword>() != nullptr, k.expect_verify) << label;
    if (!k.expect_ok) {
      ASSERT_TRUE(p.c.find<Closed>()) << label;
      EXPECT_EQ(p.c.find<Closed>()->error, errc::auth_failed) << label;
    } else {
      EXPECT_EQ(p.server.identity(), k.expect_verify ? "alice" : cn) << label;
    }
  }
}

TEST_F(Fixture, AnyRefusesACertificateAndAPasswordOfTwoPeople) {
  // Under "any" either credential alone would do, but both naming different people is refused
  // before the scrypt: one login never carries two identities.
  Pair p(pool, client_config("alice", "good"), server_config(AuthPolicy::any), {true, "bob"});
  p.run();
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::closed);
  EXPECT_FALSE(p.s.find<VerifyPassword>());
  ASSERT_TRUE(p.c.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::auth_failed);
}

TEST_F(Fixture, BothAcceptsTheCertificateOfThePasswordUser) {
  Pair p(pool, client_config("alice", "good"), server_config(AuthPolicy::both), {true, "alice"});
  p.run();
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::established);
  EXPECT_EQ(p.server.identity(), "alice");
  EXPECT_TRUE(p.s.find<VerifyPassword>());
}

TEST_F(Fixture, BothRefusesAnotherUsersCertificateBeforeTheScrypt) {
  std::vector<std::string> lines;
  auto previous = log::set_sink([&](log::Level, std::string_view line) { lines.emplace_back(line); });
  // A good password for alice with bob's (valid) certificate: refused, and no password check is
  // queued (the scrypt is the expensive part; a mismatch needs no password to decide).
  Pair p(pool, client_config("alice", "good"), server_config(AuthPolicy::both), {true, "bob"});
  p.run();
  log::set_sink(std::move(previous));
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::closed);
  EXPECT_EQ(p.client.state(), ClientNegotiator::State::closed);
  EXPECT_FALSE(p.s.find<VerifyPassword>());
  ASSERT_TRUE(p.c.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::auth_failed);
  EXPECT_EQ(p.s.sent, std::vector<MessageType>{MessageType::auth_fail});
  EXPECT_EQ(pool.leased(), 0u);
  const auto refused = std::find_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("auth_refused") != std::string::npos;
  });
  ASSERT_NE(refused, lines.end());
  EXPECT_NE(refused->find("certificate identity does not match the password user"), std::string::npos) << *refused;
  EXPECT_NE(refused->find("cert=bob"), std::string::npos) << *refused;
  EXPECT_NE(refused->find("user=alice"), std::string::npos) << *refused;
}

TEST_F(Fixture, BothComparesCertificateAndUserExactly) {
  // One namespace, compared byte for byte as the users file and the pool key are.
  Pair p(pool, client_config("alice", "good"), server_config(AuthPolicy::both), {true, "Alice"});
  p.run();
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::closed);
  EXPECT_FALSE(p.s.find<VerifyPassword>());
}

TEST_F(Fixture, CertificateNotVerifiedByTlsIsNoCertificate) {
  Pair p(pool, client_config(std::nullopt, ""), server_config(AuthPolicy::certificate), {false, "mallory"});
  p.run();
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::closed);
}

TEST_F(Fixture, MtuNakPath) {
  auto cc = client_config();
  cc.mtu = 1500;
  auto sc = server_config();
  sc.max_mtu = 1380;
  Pair p(pool, std::move(cc), std::move(sc));
  p.run();
  ASSERT_TRUE(p.c.find<Established>());
  EXPECT_EQ(p.c.find<Established>()->params.mtu, 1380);
  EXPECT_EQ(p.s.find<Established>()->params.mtu, 1380);
  EXPECT_EQ(std::count(p.s.sent.begin(), p.s.sent.end(), MessageType::lcp_configure_nak), 1);
  EXPECT_EQ(std::count(p.c.sent.begin(), p.c.sent.end(), MessageType::lcp_configure_request), 2);
}

TEST_F(Fixture, KeepaliveAndDeadPeerNakedIntoRange) {
  auto cc = client_config();
  cc.keepalive = 1000s;  // above server max (300)
  cc.dead_peer = 5s;     // below 2 x keepalive
  Pair p(pool, std::move(cc), server_config());
  p.run();
  ASSERT_TRUE(p.c.find<Established>());
  EXPECT_EQ(p.c.find<Established>()->params.keepalive, 300s);
  EXPECT_EQ(p.c.find<Established>()->params.dead_peer, 600s);
  EXPECT_EQ(p.s.find<Established>()->params.dead_peer, 600s);
}

TEST_F(Fixture, MtuNakBelowMinimumIsRefusedByClient) {
  auto cc = client_config();
  cc.mtu = 500;  // below kMinMtu: server NAKs up to 576, which the client cannot take
  Pair p(pool, std::move(cc), server_config());
  p.run();
  ASSERT_TRUE(p.c.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::negotiation_failed);
  ASSERT_TRUE(p.s.find<Closed>());
  EXPECT_EQ(p.s.find<Closed>()->error, errc::terminated_by_peer);
}

TEST_F(Fixture, PreviousAddressAndStickyReconnect) {
  auto cc = client_config();
  cc.previous_address = ip("10.77.0.77");
  {
    Pair p(pool, std::move(cc), server_config());
    p.run();
    ASSERT_TRUE(p.c.find<Established>());
    EXPECT_EQ(p.c.find<Established>()->params.client_address, ip("10.77.0.77"));
    p.client.terminate("laptop sleeping", t0 + 5s);
    p.pump(t0 + 5s);
    ASSERT_TRUE(p.s.find<Closed>());
    EXPECT_EQ(p.s.find<Closed>()->error, errc::terminated_by_peer);
    EXPECT_NE(p.s.find<Closed>()->reason.find("laptop sleeping"), std::string::npos);
    EXPECT_FALSE(p.c.find<Closed>()->error);  // local terminate is clean
    EXPECT_EQ(pool.next_expiry(), t0 + 5s + 300s);  // released into grace
  }
  // Reconnect without a hint: the sticky lease brings the same address back.
  Pair p2(pool, client_config(), server_config());
  p2.run(t0 + 60s);
  ASSERT_TRUE(p2.c.find<Established>());
  EXPECT_EQ(p2.c.find<Established>()->params.client_address, ip("10.77.0.77"));
}

TEST_F(Fixture, PoolExhausted) {
  AddressPool tiny(*IpPrefix::parse("10.77.0.0/30"), 300s);
  ASSERT_TRUE(tiny.assign("someone-else", std::nullopt, t0));
  Pair p(tiny, client_config(), server_config());
  p.run();
  ASSERT_TRUE(p.s.find<Closed>());
  EXPECT_EQ(p.s.find<Closed>()->error, errc::pool_exhausted);
  EXPECT_EQ(p.c.find<Closed>()->error, errc::terminated_by_peer);
}

TEST_F(Fixture, NoCommonCipher) {
  auto cc = client_config();
  cc.ciphers = {Cipher::chacha20_poly1305};
  auto sc = server_config();
  sc.ciphers = {Cipher::aes_256_gcm};
  Pair p(pool, std::move(cc), std::move(sc));
  p.run();
  EXPECT_EQ(p.s.find<Closed>()->error, errc::no_common_cipher);
}

TEST_F(Fixture, KeepaliveEchoesThenPeerDead) {
  Pair p(pool, client_config(), server_config());
  p.run();
  ASSERT_EQ(p.client.state(), ClientNegotiator::State::established);
  EXPECT_EQ(p.client.next_deadline(), t0 + 10s);
  // With both directions working, echoes keep the session up for a long time.
  for (int i = 1; i <= 30; ++i) {
    TimePoint now = t0 + std::chrono::seconds(10 * i);
    p.client.on_timer(now);
    p.server.on_timer(now);
    p.pump(now);
  }
  EXPECT_EQ(p.client.state(), ClientNegotiator::State::established);
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::established);
  EXPECT_GT(std::count(p.c.sent.begin(), p.c.sent.end(), MessageType::echo_request), 5);
  EXPECT_GT(std::count(p.s.sent.begin(), p.s.sent.end(), MessageType::echo_reply), 5);
  // Now the server goes silent: the client declares it dead after dead_peer (60 s).
  p.deliver_to_server = false;
  TimePoint last = t0 + 300s;
  TimePoint now = last;
  while (p.client.state() != ClientNegotiator::State::closed && now < last + 120s) {
    now = *p.client.next_deadline();
    p.client.on_timer(now);
    p.pump(now);
  }
  ASSERT_TRUE(p.c.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::peer_dead);
  EXPECT_EQ(p.c.find<Closed>()->reason, "peer dead");
  EXPECT_GE(now - last, 60s);
  EXPECT_LE(now - last, 70s);
}

TEST_F(Fixture, DataChannelTrafficCountsAsAlive) {
  Pair p(pool, client_config(), server_config());
  p.run();
  p.deliver_to_client = false;  // no echo replies reach the client...
  for (int i = 1; i <= 20; ++i) {
    TimePoint now = t0 + std::chrono::seconds(5 * i);
    p.client.note_peer_alive(now);  // ...but UDP data keeps arriving
    p.client.on_timer(now);
    p.pump(now);
  }
  EXPECT_EQ(p.client.state(), ClientNegotiator::State::established);
}

TEST_F(Fixture, DataFramesFallBackThroughTls) {
  Pair p(pool, client_config(), server_config());
  p.client.send_data_frame(std::vector<std::uint8_t>{1, 2, 3});  // before established: dropped
  p.run();
  std::vector<std::uint8_t> frame(1500, 0xab);
  p.client.send_data_frame(frame);
  p.server.send_data_frame(std::vector<std::uint8_t>{9});
  p.pump(t0);
  auto* sd = p.s.find<DataFrame>();
  auto* cd = p.c.find<DataFrame>();
  ASSERT_TRUE(sd && cd);
  EXPECT_EQ(sd->bytes, frame);
  EXPECT_EQ(cd->bytes, std::vector<std::uint8_t>{9});
}

TEST_F(Fixture, NegotiationTimeout) {
  Pair p(pool, client_config(), server_config());
  p.auto_verify = false;  // the daemon never answers the password check
  p.run();
  ASSERT_EQ(p.server.state(), ServerNegotiator::State::verifying_password);
  EXPECT_EQ(p.server.next_deadline(), t0 + 30s);
  p.server.on_timer(t0 + 29s);
  EXPECT_EQ(p.server.state(), ServerNegotiator::State::verifying_password);
  p.server.on_timer(t0 + 30s);
  p.pump(t0 + 30s);
  EXPECT_EQ(p.s.find<Closed>()->error, errc::negotiation_timeout);
  EXPECT_EQ(p.c.find<Closed>()->error, errc::terminated_by_peer);
  p.server.on_password_verified(true, t0 + 31s);  // late answer: ignored
  EXPECT_TRUE(p.server.take_actions().empty());
  // And the client's own deadline.
  ClientNegotiator lonely(client_config());
  lonely.start(t0);
  lonely.on_timer(t0 + 30s);
  auto actions = lonely.take_actions();
  ASSERT_FALSE(actions.empty());
  ASSERT_TRUE(std::holds_alternative<Closed>(actions.back()));
  EXPECT_EQ(std::get<Closed>(actions.back()).error, errc::negotiation_timeout);
}

// A hand-driven server, for messages a well-behaved client never sends.
struct ServerDriver {
  AddressPool& pool;
  ServerNegotiator server;
  explicit ServerDriver(AddressPool& p, AuthPolicy policy = AuthPolicy::certificate)
      : pool(p), server(server_config(policy), {true, "cn"}, p, t0) {}
  std::vector<Frame> feed(const std::vector<std::uint8_t>& bytes) {
    server.feed(bytes, t0);
    std::vector<Frame> out;
    ControlReader r;
    for (auto& a : server.take_actions()) {
      if (auto* b = std::get_if<SendBytes>(&a)) r.feed(b->bytes);
      if (auto* c = std::get_if<Closed>(&a)) closed = *c;
    }
    while (auto f = r.next()) out.push_back(std::move(*f));
    return out;
  }
  std::optional<Closed> closed;
};

std::vector<std::uint8_t> hello_bytes(std::uint16_t version = kProtocolVersion) {
  Hello h;
  h.version = version;
  h.session_id = 1;
  h.ciphers = {1};
  return encode_hello(h);
}

TEST_F(Fixture, UnknownLcpOptionIsRejectedThenAccepted) {
  ServerDriver d(pool);
  ASSERT_EQ(d.feed(hello_bytes()).at(0).type, MessageType::auth_ok);
  LcpOptions req{1400, 10, 60, {{200, {1, 2}}}};
  auto out = d.feed(encode_lcp(MessageType::lcp_configure_request, req));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::lcp_configure_reject);
  LcpOptions rej;
  ASSERT_FALSE(decode_lcp(out[0].body, rej));
  EXPECT_EQ(rej.unknown, req.unknown);
  EXPECT_FALSE(rej.mtu);
  req.unknown.clear();
  out = d.feed(encode_lcp(MessageType::lcp_configure_request, req));
  EXPECT_EQ(out.at(0).type, MessageType::lcp_configure_ack);
}

// A client from before the domain attribute requests what the NAK said minus the domains (it
// would keep them as unknown): acked anyway, so pushing dns_domains does not lock it out.
TEST_F(Fixture, ClientWithoutDomainAttributeIsAcked) {
  ServerDriver d(pool);
  ASSERT_EQ(d.feed(hello_bytes()).at(0).type, MessageType::auth_ok);
  ASSERT_EQ(d.feed(encode_lcp(MessageType::lcp_configure_request, {1400, 10, 60, {}})).at(0).type,
            MessageType::lcp_configure_ack);
  IpcpOptions req;
  req.address = IpAddress{};
  auto out = d.feed(encode_ipcp(MessageType::ipcp_configure_request, req));
  ASSERT_EQ(out.at(0).type, MessageType::ipcp_configure_nak);
  IpcpOptions nak;
  ASSERT_FALSE(decode_ipcp(out[0].body, nak));
  ASSERT_EQ(nak.domains.size(), 2u);
  IpcpOptions old_client = nak;
  old_client.domains.clear();
  out = d.feed(encode_ipcp(MessageType::ipcp_configure_request, old_client));
  EXPECT_EQ(out.at(0).type, MessageType::ipcp_configure_ack);
  // Other domains than the pushed ones are still NAKed.
  ServerDriver d2(pool);
  d2.feed(hello_bytes());
  d2.feed(encode_lcp(MessageType::lcp_configure_request, {1400, 10, 60, {}}));
  IpcpOptions wrong = nak;
  wrong.domains = {*dns::parse_domain("other.example")};
  out = d2.feed(encode_ipcp(MessageType::ipcp_configure_request, wrong));
  EXPECT_EQ(out.at(0).type, MessageType::ipcp_configure_nak);
}

TEST_F(Fixture, TooManyNakRoundsFail) {
  ServerDriver d(pool);
  d.feed(hello_bytes());
  LcpOptions bad{9000, 10, 60, {}};
  for (int i = 0; i < 10 && !d.closed; ++i) d.feed(encode_lcp(MessageType::lcp_configure_request, bad));
  ASSERT_TRUE(d.closed);
  EXPECT_EQ(d.closed->error, errc::negotiation_failed);
}

TEST_F(Fixture, ProtocolErrorsCloseWithTerminate) {
  {
    ServerDriver d(pool);  // LCP before HELLO
    auto out = d.feed(encode_lcp(MessageType::lcp_configure_request, {}));
    ASSERT_TRUE(d.closed);
    EXPECT_EQ(d.closed->error, errc::unexpected_message);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].type, MessageType::terminate);
  }
  {
    ServerDriver d(pool);
    d.feed(hello_bytes(2));
    EXPECT_EQ(d.closed->error, errc::unsupported_version);
  }
  {
    ServerDriver d(pool);  // garbage framing
    d.feed({0xff, 0, 0});
    EXPECT_EQ(d.closed->error, errc::unknown_message_type);
  }
  {
    ServerDriver d(pool);  // malformed HELLO body
    d.feed({1, 0, 2, 1, 0});
    EXPECT_EQ(d.closed->error, errc::truncated);
  }
  {
    ServerDriver d(pool);  // input after close is ignored
    d.feed({0xff, 0, 0});
    EXPECT_TRUE(d.feed(hello_bytes()).empty());
  }
}

TEST_F(Fixture, TerminateFromServerAfterEstablished) {
  Pair p(pool, client_config(), server_config());
  p.run();
  p.server.terminate("server shutting down", t0 + 1s);
  p.pump(t0 + 1s);
  ASSERT_TRUE(p.c.find<Closed>());
  EXPECT_EQ(p.c.find<Closed>()->error, errc::terminated_by_peer);
  EXPECT_EQ(p.c.find<Closed>()->reason, "terminated by peer: server shutting down");
  EXPECT_EQ(p.client.next_deadline(), std::nullopt);
  EXPECT_EQ(pool.next_expiry(), t0 + 1s + 300s);
}

}  // namespace
}  // namespace postern::tunnel::control
