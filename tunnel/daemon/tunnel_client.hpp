// `postern client`: connects to a site server's control port (TLS 1.3, server verified by CA
// and name or by a pinned fingerprint), runs a ClientNegotiator, then configures the TUN device
// (address, MTU, routes via rtnetlink) and hands a PeerSession to the data plane. When the
// control connection ends it reconnects, asking for its previous address, so the TUN interface
// and open TCP connections through it survive a short outage.
// Several servers ([tunnel] servers): a ServerRotation (server_rotation.hpp) picks the server
// of each attempt; the next server is tried at once and the backoff (0.5 s doubling to 30 s,
// jittered) is waited only after a round in which every server failed. Each attempt re-resolves
// its server's name (both families) and races its addresses Happy Eyeballs style
// (happy_eyeballs.hpp: IPv6 and IPv4 interleaved, the next started connect_attempt_delay after
// the previous, the first to connect wins), each with connect_timeout for the TCP connect;
// the winner then gets connect_timeout for the TLS handshake; the certificate must carry the name of the server
// being tried (or server_name). A server whose certificate names another host is dropped from
// the rotation; the client gives up (exit status 2) when none is left or when a server refuses
// its credentials.
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
// The data plane's UDP socket is marked by the command at bind time (before the privilege drop);
// it is dual-stack, and each session's data channel goes to the control channel's server
// address, so it follows whichever family won the race.
// Pushed DNS (cfg.apply_dns, docs/configuration.md "DNS on the client"): after each
// establishment the servers and domains go to the root DNS helper (platform/resolver_helper.hpp,
// forked by the command before the privilege drop); stop() asks it to restore, and it restores
// by itself when this process ends any other way. A reconnect keeps them applied, like routes.
// Each attempt is a ControlConnection (control_connection.hpp: its stream, negotiator actions,
// TLS-fallback frames and key requests); this class adds what only the client does.
// Threading: the io_context thread; the data plane's key requests are posted back to it.
#pragma once

#include "common/config.hpp"
#include "platform/netlink.hpp"
#include "platform/resolver_helper.hpp"
#include "tunnel/control/tunnel_parameters.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/server_rotation.hpp"
#include "tunnel/daemon/transport_monitor.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // For `postern status`: each configured server's state, and the address its last attempt
  // connected to ("" before any).
  const config::TunnelClientConfig& config() const { return cfg_; }
  const ServerRotation& rotation() const { return rotation_; }
  const std::string& last_address(std::size_t server) const { return addresses_.at(server); }

  // Exit status for the command: set when the client gives up (authentication refused).
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  struct Attempt;
  asio::awaitable<void> run();
  asio::awaitable<std::string> connect_once(std::size_t server);
  asio::awaitable<std::error_code> connect_socket(asio::ip::tcp::socket& socket,
                                                  const asio::ip::tcp::resolver::results_type& endpoints);
  void give_up(const std::string& reason);
  void remove_leak_protection_rules();
  void establish(Attempt& attempt, std::shared_ptr<PeerSession> session, const control::TunnelParameters& params);
  void transport_tick();
  void apply_leak_rules(const control::TunnelParameters& params);
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
  std::optional<IpAddress> previous_address_;
  std::optional<IpAddress> previous_address6_;
  // 16 random hex digits for this process's life, presented to every server (IPCP): the
  // RADIUS accounting of all its reconnects and failovers shares it (Acct-Multi-Session-Id).
  std::string accounting_session_;
  ServerRotation rotation_;
  // Per configured server: the addresses of its last successful resolution, and the address
  // its last attempt connected to.
  std::vector<asio::ip::tcp::resolver::results_type> last_endpoints_;
  std::vector<std::string> addresses_;
  std::shared_ptr<Attempt> current_;
  asio::steady_timer keepalive_timer_;
  bool stopping_ = false;
  bool established_ = false;
  bool leak_rules_installed_ = false;
  std::optional<int> exit_status_;
  // Set by connect_once() for a failure no retry of that server can fix (its certificate names
  // another host): run() drops the server from the rotation.
  std::string unfixable_;
};

}  // namespace postern::tunnel::daemon
