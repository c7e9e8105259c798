// `postern client`: connects to the server's control port (TLS 1.3, server verified by CA and
// name or by a pinned fingerprint), runs a ClientNegotiator, then configures the TUN device
// (address, MTU, routes via rtnetlink) and hands a PeerSession to the data plane. When the
// control connection ends it reconnects with exponential backoff and jitter (1 s doubling to
// 30 s), re-resolving the server name each time and asking for its previous address, so the TUN
// interface and open TCP connections through it survive a short outage.
// Threading: the io_context thread; the data plane's key requests are posted back to it.
#pragma once

#include "common/config.hpp"
#include "platform/netlink.hpp"
#include "tunnel/control/tunnel_parameters.hpp"
#include "tunnel/daemon/data_plane.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <memory>
#include <optional>
#include <string>

namespace postern::tunnel::daemon {

class TunnelClient {
 public:
  TunnelClient(asio::io_context& io, const config::TunnelClientConfig& cfg, DataPlane& data_plane,
               platform::Netlink& netlink, SecretBytes password);
  ~TunnelClient();

  void start();
  void stop();
  void request_key(std::shared_ptr<PeerSession> session, Direction direction, std::uint32_t epoch);
  bool established() const { return established_; }

  // Exit status for the command: set when the client gives up (authentication refused).
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  struct Attempt;
  asio::awaitable<void> run();
  asio::awaitable<std::string> connect_once();
  void drain(Attempt& attempt);
  void establish(Attempt& attempt, const control::TunnelParameters& params);
  void keepalive_tick();

  asio::io_context& io_;
  const config::TunnelClientConfig& cfg_;
  asio::ssl::context tls_;
  DataPlane& data_plane_;
  platform::Netlink& netlink_;
  SecretBytes password_;
  std::optional<control::Ipv4> previous_address_;
  std::shared_ptr<Attempt> current_;
  asio::steady_timer keepalive_timer_;
  bool stopping_ = false;
  bool established_ = false;
  std::optional<int> exit_status_;
};

}  // namespace postern::tunnel::daemon
