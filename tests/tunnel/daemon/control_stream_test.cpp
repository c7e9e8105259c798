// ControlStream over a real TLS connection on loopback: a peer that never reads is disconnected
// once ControlStream::kMaxQueued bytes wait ("peer is not reading"), long before memory grows
// without bound, and the stream reports itself backlogged on the way (issue 10, item 3).
#include "tunnel/daemon/control_stream.hpp"

#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace postern::tunnel::daemon {
namespace {

using asio::ip::tcp;

TEST(ControlStream, PeerThatDoesNotReadIsDisconnected) {
  char tmpl[] = "/tmp/control-stream-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir(tmpl);
  auth::pki_init(dir / "pki", {.server_names = {"127.0.0.1"}});

  asio::io_context io;
  asio::ssl::context server_tls(asio::ssl::context::tls_server);
  server_tls.use_certificate_chain_file((dir / "pki" / "server.pem").string());
  server_tls.use_private_key_file((dir / "pki" / "server.key").string(), asio::ssl::context::pem);
  asio::ssl::context client_tls(asio::ssl::context::tls_client);
  client_tls.set_verify_mode(asio::ssl::verify_none);

  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client_socket(io);
  client_socket.open(tcp::v4());
  client_socket.set_option(asio::socket_base::receive_buffer_size(4096));
  client_socket.connect(acceptor.local_endpoint());
  tcp::socket server_socket = acceptor.accept();
  server_socket.set_option(asio::socket_base::send_buffer_size(4096));

  TlsStream server(std::move(server_socket), server_tls);
  asio::ssl::stream<tcp::socket&> client(client_socket, client_tls);
  int handshakes = 0;
  server.async_handshake(asio::ssl::stream_base::server, [&](const asio::error_code& ec) {
    EXPECT_FALSE(ec) << ec.message();
    ++handshakes;
  });
  client.async_handshake(asio::ssl::stream_base::client, [&](const asio::error_code& ec) {
    EXPECT_FALSE(ec) << ec.message();
    ++handshakes;
  });
  io.run();
  ASSERT_EQ(handshakes, 2);
  io.restart();

  auto stream = std::make_shared<ControlStream>(std::move(server));
  std::string closed;
  bool saw_backlog = false;
  ControlStream::Driver driver;
  driver.on_bytes = [](std::span<const std::uint8_t>, SteadyTime) {};
  driver.on_timer = [](SteadyTime) {};
  driver.next_deadline = [] { return std::optional<SteadyTime>(); };
  driver.on_closed = [&](const std::string& reason) { closed = reason; };
  stream->start(std::move(driver));

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
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace postern::tunnel::daemon
