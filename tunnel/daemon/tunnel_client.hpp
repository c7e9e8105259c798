// `postern client`: connects to the server's control port (TLS 1.3, server verified by CA and
// name or by a pinned fingerprint), runs a ClientNegotiator, then configures the TUN device
// (address, MTU, routes via rtnetlink) and hands a PeerSession to the data plane. When the
// control connection ends it reconnects with exponential backoff and jitter (1 s doubling to
// 30 s), re-resolving the server name each time and asking for its previous address, so the TUN
// interface and open TCP connections through it survive a short outage.
// Dead peers: the negotiator's echoes inside TLS close the attempt after 3.5 keepalives of
// silence (then we reconnect); a server that died with its host or behind a dead path is found
// that way, a killed process at once (its kernel resets the TCP connection).
// Transport: a TransportMonitor ticks every 500 ms and moves the session between UDP and the TLS
// fallback (transport_monitor.hpp); frames for TLS arrive from the data plane through
// on_tls_frames() and leave as the negotiator's DATA messages.
// Leak protection (cfg.leak_protection, docs/resilience.md): start() installs the policy rules
// (removing a crashed run's leftovers), every control socket is marked before connect, pushed
// routes go into cfg.table, each establishment installs the DNS rules for the pushed servers
// (every other port-53 query is prohibited; interface_setup.hpp), and the destructor removes
// the rules (after the command has closed the TUN device, so the pushed prefixes never fall
// back to main while configured). A reconnect whose name resolution fails (the DNS rules allow
// only the pushed servers, behind the tunnel that is down) uses the last resolved addresses.
// The data plane's UDP socket is marked by the command at bind time (before the privilege drop).
// Pushed DNS (cfg.apply_dns, docs/configuration.md "DNS on the client"): after each
// establishment the servers and domains go to the root DNS helper (platform/resolver_helper.hpp,
// forked by the command before the privilege drop); stop() asks it to restore, and it restores
// by itself when this process ends any other way. A reconnect keeps them applied, like routes.
// Threading: the io_context thread; the data plane's key requests are posted back to it.
#pragma once

#include "common/config.hpp"
#include "platform/netlink.hpp"
#include "platform/resolver_helper.hpp"
#include "tunnel/control/tunnel_parameters.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/transport_monitor.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <memory>
#include <optional>
#include <string>

namespace postern::tunnel::daemon {

class TunnelClient {
 public:
  TunnelClient(asio::io_context& io, const config::TunnelClientConfig& cfg, DataPlane& data_plane,
               platform::Netlink& netlink, SecretBytes password, platform::ResolverHelper* dns = nullptr);
  ~TunnelClient();

  // Throws std::runtime_error when leak protection is on and the rules cannot be installed.
  void start();
  void stop();
  void request_key(std::shared_ptr<PeerSession> session, Direction direction, std::uint32_t epoch);
  // The data plane queued frames for the TLS fallback (thread-safe: posts to the io_context).
  void on_tls_frames(std::shared_ptr<PeerSession> session);
  bool established() const { return established_; }

  // Exit status for the command: set when the client gives up (authentication refused).
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  struct Attempt;
  asio::awaitable<void> run();
  asio::awaitable<std::string> connect_once();
  asio::awaitable<std::error_code> connect_socket(asio::ip::tcp::socket& socket,
                                                  const asio::ip::tcp::resolver::results_type& endpoints);
  void remove_leak_protection_rules();
  void drain(Attempt& attempt);
  void establish(Attempt& attempt, const control::TunnelParameters& params);
  void transport_tick();
  void flush_tls_frames(Attempt& attempt);
  void apply_dns(const control::TunnelParameters& params, const std::string& interface);
  void restore_dns();

  asio::io_context& io_;
  const config::TunnelClientConfig& cfg_;
  asio::ssl::context tls_;
  DataPlane& data_plane_;
  platform::Netlink& netlink_;
  SecretBytes password_;
  platform::ResolverHelper* dns_;
  bool dns_applied_ = false;
  std::optional<control::Ipv4> previous_address_;
  asio::ip::tcp::resolver::results_type last_endpoints_;  // of the last successful resolution
  std::shared_ptr<Attempt> current_;
  asio::steady_timer keepalive_timer_;
  bool stopping_ = false;
  bool established_ = false;
  bool leak_rules_installed_ = false;
  std::optional<int> exit_status_;
  // Set by connect_once() for a failure no retry can fix (the server certificate names another
  // host): run() gives up with it and exit status 2.
  std::string unfixable_;
};

}  // namespace postern::tunnel::daemon
