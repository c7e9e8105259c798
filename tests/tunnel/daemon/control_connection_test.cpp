// ControlConnection (the glue TunnelServer and TunnelClient share) with its real parts: a server
// and a client ControlConnection over one loopback TLS 1.3 connection, the real negotiators, and
// two DataPlanes over fake TUN devices and a fake UDP network (fake_network.hpp) whose sessions
// are on the TLS fallback. Shows: a password check answered inside the hook is performed in the
// same drain; Established gives both sides a session keyed from the TLS exporter; packets cross
// both ways as DATA messages (flush_tls_frames out, receive_over_tls in); rekeys (8 packets an
// epoch) install the keys each side exports (install_key); terminate() closes both ends through
// their hooks, and each session leaves its data plane. No root; loopback TCP only.
#include "tunnel/daemon/control_connection.hpp"

#include "auth/pki.hpp"
#include "fake_network.hpp"
#include "tunnel/control/negotiator_client.hpp"
#include "tunnel/control/negotiator_server.hpp"

#include <poll.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

namespace postern::tunnel::daemon {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kPool = 0x0A4E0000;      // 10.78.0.0/24
constexpr std::uint32_t kSiteHost = 0xC0A80B07;  // 192.168.11.7, behind the server
constexpr std::uint16_t kDataPort = 51820;

// What a role's hooks saw, for the test to check.
struct Seen {
  std::string password_user;
  std::optional<control::TunnelParameters> established;
  std::string closed;  // Closed's reason
  std::string ended;   // the stream's end reason
};

// The hooks both test roles share: record Closed and the end, let the session go, and (from
// on_established) put the session on the TLS fallback before handing it to the data plane.
template <class Base>
struct TestConnection : Base {
  using Base::Base;
  void establish(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) {
    session->inner_address = params.client_address.to_v4_uint();
    DataPlane::set_transport(*session, Transport::tls, "test: TLS fallback");
    seen.established = params;
    this->attach_session(std::move(session));
  }
  void on_closed(const control::Closed& closed) override { seen.closed = closed.reason; }
  void on_ended(const std::string& reason) override {
    seen.ended = reason;
    this->detach_session();
  }
  Seen seen;
};

struct TestServerConnection final : TestConnection<ServerControlConnection> {
  using TestConnection::TestConnection;
  void on_verify_password(control::VerifyPassword& request) override {
    seen.password_user = request.user;
    negotiator().on_password_verified(control::PasswordCheck::accepted, Clock::now());
  }
  void on_established(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) override {
    establish(std::move(session), params);
  }
};

struct TestClientConnection final : TestConnection<ClientControlConnection> {
  using TestConnection::TestConnection;
  void on_established(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) override {
    const sockaddr_in server = test::ipv4_endpoint("198.51.100.1", params.data_port);
    std::memcpy(&session->endpoint, &server, sizeof server);
    session->endpoint_len = sizeof server;
    establish(std::move(session), params);
  }
};

// A 40-byte IPv4/UDP packet from `src` to `dst` whose last byte is `id`.
std::vector<std::uint8_t> packet(std::uint32_t src, std::uint32_t dst, std::uint8_t id) {
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x45;
  p[3] = static_cast<std::uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = static_cast<std::uint8_t>(src >> (24 - 8 * i));
    p[16 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
  }
  p.back() = id;
  return p;
}

// A packet waiting on the kernel side of a fake TUN, without blocking.
std::optional<std::vector<std::uint8_t>> take_packet(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return std::nullopt;
  std::vector<std::uint8_t> buffer(65536);
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

struct Side {
  platform::UniqueFd kernel;  // the test plays the kernel behind the TUN
  std::unique_ptr<DataPlane> plane;
};

class Link {
 public:
  Link() {
    char tmpl[] = "/tmp/control-connection-test.XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auth::pki_init(dir_ / "pki", {.server_names = {"127.0.0.1"}});
    server_tls_.use_certificate_chain_file((dir_ / "pki" / "server.pem").string());
    server_tls_.use_private_key_file((dir_ / "pki" / "server.key").string(), asio::ssl::context::pem);
    client_tls_.set_verify_mode(asio::ssl::verify_none);
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket client_socket(io);
    client_socket.connect(acceptor.local_endpoint());
    TlsStream server_stream(acceptor.accept(), server_tls_);
    TlsStream client_stream(std::move(client_socket), client_tls_);
    int handshakes = 0;
    auto count = [&handshakes](const asio::error_code& ec) {
      EXPECT_FALSE(ec) << ec.message();
      ++handshakes;
    };
    server_stream.async_handshake(asio::ssl::stream_base::server, count);
    client_stream.async_handshake(asio::ssl::stream_base::client, count);
    io.run();
    io.restart();
    EXPECT_EQ(handshakes, 2);

    DataPlaneOptions so;
    so.server = true;
    so.pool = IpPrefix{IpAddress::from_v4_uint(kPool), 24};
    so.server_address = IpAddress::from_v4_uint(kPool + 1);
    so.echo_magic = 0x5E5E5E5E;
    server_side_ = make_side("cc-server", test::ipv4_endpoint("198.51.100.1", kDataPort), so, [this] { return server; });
    DataPlaneOptions co;
    co.echo_magic = 0xC1C1C1C1;
    client_side_ = make_side("cc-client", test::ipv4_endpoint("192.0.2.10", 40000), co, [this] { return client; });

    server = std::make_shared<TestServerConnection>(*server_side_.plane, data::Role::server,
                                                    std::make_shared<ControlStream>(std::move(server_stream)));
    client = std::make_shared<TestClientConnection>(*client_side_.plane, data::Role::client,
                                                    std::make_shared<ControlStream>(std::move(client_stream)));
  }
  ~Link() {
    server.reset();
    client.reset();
    client_side_.plane->stop();
    server_side_.plane->stop();
    std::filesystem::remove_all(dir_);
  }

  // Both negotiators started, as TunnelServer::begin_negotiation and TunnelClient::connect_once do.
  void start() {
    control::ServerConfig sc;
    sc.policy = control::AuthPolicy::password;
    sc.receive_session_id = 0x000201;
    sc.echo_magic = 0x5E5E5E5E;
    sc.data_port = kDataPort;
    sc.rekey_packets = 8;
    sc.log_id = "cc-server";
    server->start(std::make_unique<control::ServerNegotiator>(std::move(sc), control::PeerCertificate{}, pool_,
                                                              Clock::now()));
    control::ClientConfig cc;
    cc.receive_session_id = 0x000101;
    cc.echo_magic = 0xC1C1C1C1;
    cc.user = "alice";
    const std::string password = "correct horse";
    cc.password = SecretBytes(std::span(reinterpret_cast<const std::uint8_t*>(password.data()), password.size()));
    cc.log_id = "cc-client";
    client->start(std::make_unique<control::ClientNegotiator>(std::move(cc)));
    client->negotiator().start(Clock::now());
    client->drain();
  }

  // Runs the io_context (the control thread) until `done` or 5 s.
  bool run_until(const std::function<bool()>& done) {
    for (auto end = Clock::now() + 5s; Clock::now() < end && !done();) io.run_for(2ms);
    return done();
  }

  // Sends `p` into `from`'s TUN; true when `to`'s TUN got it unchanged.
  bool crosses(Side& from, Side& to, const std::vector<std::uint8_t>& p) {
    EXPECT_EQ(::send(from.kernel.get(), p.data(), p.size(), 0), static_cast<ssize_t>(p.size()));
    std::optional<std::vector<std::uint8_t>> got;
    run_until([&] {
      if (!got) got = take_packet(to.kernel.get());
      return got.has_value();
    });
    return got == p;
  }

  asio::io_context io;
  std::shared_ptr<TestServerConnection> server;
  std::shared_ptr<TestClientConnection> client;
  Side& server_side() { return server_side_; }
  Side& client_side() { return client_side_; }

 private:
  // The data plane's key requests and TLS-queue wake-ups are posted to the control thread and
  // go to the connection holding the session, as TunnelServer and TunnelClient do.
  template <class GetConnection>
  Side make_side(std::string name, sockaddr_in address, DataPlaneOptions options, GetConnection connection) {
    auto [tun, kernel] = platform::TunDevice::open_fake(std::move(name));
    Side side;
    side.kernel = std::move(kernel);
    auto keys = [this, connection](std::shared_ptr<PeerSession> s, Direction d, std::uint32_t epoch) {
      asio::post(io, [connection, s, d, epoch] {
        if (auto c = connection(); c && c->session() == s) c->install_key(d, epoch);
      });
    };
    side.plane = std::make_unique<DataPlane>(options, std::move(tun), std::make_unique<test::FakePort>(net_, address),
                                             keys);
    side.plane->set_tls_frames_handler([this, connection](std::shared_ptr<PeerSession> s) {
      asio::post(io, [connection, s] {
        if (auto c = connection(); c && c->session() == s) c->flush_tls_frames();
      });
    });
    side.plane->start();
    return side;
  }

  std::filesystem::path dir_;
  asio::ssl::context server_tls_{asio::ssl::context::tls_server};
  asio::ssl::context client_tls_{asio::ssl::context::tls_client};
  test::FakeNetwork net_;
  control::AddressPool pool_{IpPrefix{IpAddress::from_v4_uint(kPool), 24}, std::chrono::seconds(0)};
  Side server_side_;
  Side client_side_;
};

TEST(ControlConnection, NegotiatesCarriesDataOverTlsRekeysAndCloses) {
  Link link;
  link.start();
  ASSERT_TRUE(link.run_until([&] { return link.server->session() && link.client->session(); }));
  EXPECT_EQ(link.server->seen.password_user, "alice");
  ASSERT_TRUE(link.server->seen.established && link.client->seen.established);
  const std::uint32_t address = link.client->seen.established->client_address.to_v4_uint();
  EXPECT_EQ(link.server->seen.established->client_address.to_v4_uint(), address);
  EXPECT_EQ(link.server_side().plane->sessions().size(), 1u);
  EXPECT_EQ(link.client_side().plane->sessions().size(), 1u);

  // Three rounds of 8 packets each way, 8 packets per epoch and an epoch's minimum age
  // (session_setup.cpp: 200 ms) waited between rounds: every packet crosses, through two rekeys
  // whose keys each side exported and installed.
  std::uint8_t id = 0;
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 8; ++k, ++id) {
      ASSERT_TRUE(link.crosses(link.client_side(), link.server_side(), packet(address, kSiteHost, id))) << +id;
      ASSERT_TRUE(link.crosses(link.server_side(), link.client_side(), packet(kSiteHost, address, id))) << +id;
    }
    const auto wait_until = Clock::now() + 300ms;
    link.run_until([&] { return Clock::now() >= wait_until; });
  }
  EXPECT_GE(link.client->session()->rekeys.load(), 2u);
  EXPECT_GE(link.server->session()->rekeys.load(), 2u);
  EXPECT_GE(link.client->session()->tls_tx_frames.load(), 24u);
  EXPECT_GE(link.server->session()->tls_rx_frames.load(), 24u);

  link.client->terminate("test done", Clock::now());
  EXPECT_TRUE(link.client->closed());
  EXPECT_EQ(link.client->seen.closed, "test done");
  ASSERT_TRUE(link.run_until([&] { return !link.client->seen.ended.empty() && !link.server->seen.ended.empty(); }));
  EXPECT_EQ(link.server->seen.closed, "terminated by peer: test done");
  EXPECT_TRUE(link.server->closed());
  EXPECT_TRUE(link.server_side().plane->sessions().empty());
  EXPECT_TRUE(link.client_side().plane->sessions().empty());
  // A closed connection installs no more keys and sends no more frames.
  EXPECT_FALSE(link.client->install_key(Direction::send, 9));
}

}  // namespace
}  // namespace postern::tunnel::daemon
