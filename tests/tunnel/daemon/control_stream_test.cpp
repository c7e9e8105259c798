// ControlStream over a real TLS connection on loopback: a peer that never reads is disconnected
// once ControlStream::kMaxQueued bytes wait ("peer is not reading"), long before memory grows
// without bound, and the stream reports itself backlogged on the way (issue 10, item 3); a
// close() to such a peer ends after ControlStream::kCloseFlush instead of flushing forever.
#include "tunnel/daemon/control_stream.hpp"

#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace postern::tunnel::daemon {
namespace {

using asio::ip::tcp;

// A TLS connection on loopback whose client side never reads (4 KiB buffers on both ends).
struct NonReadingPeer {
  NonReadingPeer() {
    char tmpl[] = "/tmp/control-stream-test.XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    auth::pki_init(dir / "pki", {.server_names = {"127.0.0.1"}});
    server_tls.use_certificate_chain_file((dir / "pki" / "server.pem").string());
    server_tls.use_private_key_file((dir / "pki" / "server.key").string(), asio::ssl::context::pem);
    client_tls.set_verify_mode(asio::ssl::verify_none);
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client_socket.open(tcp::v4());
    client_socket.set_option(asio::socket_base::receive_buffer_size(4096));
    client_socket.connect(acceptor.local_endpoint());
    tcp::socket server_socket = acceptor.accept();
    server_socket.set_option(asio::socket_base::send_buffer_size(4096));
    TlsStream server(std::move(server_socket), server_tls);
    client = std::make_unique<asio::ssl::stream<tcp::socket&>>(client_socket, client_tls);
    int handshakes = 0;
    server.async_handshake(asio::ssl::stream_base::server, [&](const asio::error_code& ec) {
      EXPECT_FALSE(ec) << ec.message();
      ++handshakes;
    });
    client->async_handshake(asio::ssl::stream_base::client, [&](const asio::error_code& ec) {
      EXPECT_FALSE(ec) << ec.message();
      ++handshakes;
    });
    io.run();
    EXPECT_EQ(handshakes, 2);
    io.restart();
    stream = std::make_shared<ControlStream>(std::move(server));
  }
  ~NonReadingPeer() { std::filesystem::remove_all(dir); }

  ControlStream::Driver driver() {
    ControlStream::Driver d;
    d.on_bytes = [](std::span<const std::uint8_t>, SteadyTime) {};
    d.on_timer = [](SteadyTime) {};
    d.next_deadline = [] { return std::optional<SteadyTime>(); };
    d.on_closed = [this](const std::string& reason) { closed = reason; };
    return d;
  }

  std::filesystem::path dir;
  asio::io_context io;
  asio::ssl::context server_tls{asio::ssl::context::tls_server};
  asio::ssl::context client_tls{asio::ssl::context::tls_client};
  tcp::socket client_socket{io};
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> client;
  std::shared_ptr<ControlStream> stream;
  std::string closed;
};

TEST(ControlStream, PeerThatDoesNotReadIsDisconnected) {
  NonReadingPeer peer;
  auto& io = peer.io;
  auto& stream = peer.stream;
  auto& closed = peer.closed;
  bool saw_backlog = false;
  stream->start(peer.driver());

  // The client never reads; the server keeps queueing 64 KiB at a time, as a flood of echo
  // replies or fallback frames would.
  const std::vector<std::uint8_t> chunk(64 * 1024, 0x42);
  std::size_t sent = 0;
  std::function<void()> pump = [&] {
    if (!closed.empty() || sent > (64U << 20)) return;
    saw_backlog = saw_backlog || stream->backlogged();
    stream->send(chunk);
    sent += chunk.size();
    asio::post(io, pump);
  };
  asio::post(io, pump);
  io.run_for(std::chrono::seconds(20));

  EXPECT_NE(closed.find("peer is not reading"), std::string::npos) << "closed: '" << closed << "'";
  EXPECT_TRUE(saw_backlog);
  // Disconnected after the cap plus what the kernel buffers took, far below the 64 MiB offered.
  EXPECT_LT(sent, ControlStream::kMaxQueued + (16U << 20)) << sent;
}

// close() to a peer that has stopped reading, with less than the cap queued (the dead-peer close
// of a TLS-fallback client that stopped reading): the flush cannot complete, so after
// kCloseFlush the socket is closed anyway and on_closed runs; it used to wait forever, holding
// the descriptor.
TEST(ControlStream, CloseToPeerThatDoesNotReadEnds) {
  NonReadingPeer peer;
  peer.stream->start(peer.driver());
  const std::vector<std::uint8_t> chunk(64 * 1024, 0x42);
  for (int i = 0; i < 16; ++i) peer.stream->send(chunk);  // 1 MiB: far more than the buffers take
  asio::steady_timer later(peer.io, std::chrono::milliseconds(200));
  later.async_wait([&](const asio::error_code&) { peer.stream->close("peer dead"); });
  peer.io.run_for(ControlStream::kCloseFlush + std::chrono::seconds(5));
  EXPECT_EQ(peer.closed, "peer dead (the peer did not take the last output)");
  EXPECT_FALSE(peer.stream->stream().lowest_layer().is_open());
}

}  // namespace
}  // namespace postern::tunnel::daemon
