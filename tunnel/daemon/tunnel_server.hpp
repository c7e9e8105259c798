// `postern server`'s tunnel half: accepts TLS 1.3 control connections, runs one
// ServerNegotiator per connection (tunnel/control), checks passwords off the network thread with
// per-source throttling, and on Established exports the data-channel keys from that connection's
// TLS session and adds a PeerSession to the data plane. When a control connection ends, its
// session leaves the data plane and its address returns to the pool (after the grace period).
// Housekeeping (every second): sessions without an authenticated data-channel frame (UDP or TLS
// fallback) for idle_timeout are terminated ("stale"), and expired address leases are freed.
// UDP fallback: a client's DATA messages go to DataPlane::receive_over_tls(); a data frame that
// way newer than any before it moves the session to the tls transport (the forwarding core's
// rule, forwarding_core.cpp open_frame()); frames the data plane queues for TLS
// arrive through on_tls_frames() and leave as DATA messages.
// A refused client certificate is logged with OpenSSL's reason, and the fix when the reason
// alone is opaque (an expired CRL refuses every certificate: auth::verify_error_hint); a session
// whose client certificate is near its end is warned about when it comes up.
// Passwords go to the configured backend (users file, LDAP, RADIUS: auth/password_backend.hpp);
// a backend that cannot answer makes the login fail as "temporarily unavailable" (the client
// retries; not counted by the throttle). With RADIUS accounting, each session is accounted
// Start / Interim-Update / Stop (auth/radius_accounting.hpp) from its data-plane counters.
// Each connection is a ControlConnection (control_connection.hpp: its stream, negotiator actions,
// TLS-fallback frames and key requests); this class adds what only the server does.
// Threading: everything here runs on the io_context thread except password checks (a one-thread
// pool) and the data plane's key requests, which are posted back to the io_context.
#pragma once

#include "common/config.hpp"
#include "auth/cert_checks.hpp"
#include "auth/handshake_limiter.hpp"
#include "auth/throttle.hpp"
#include "auth/password_backend.hpp"
#include "auth/radius_accounting.hpp"
#include "tunnel/control/address_pool.hpp"
#include "tunnel/control/tunnel_parameters.hpp"
#include "tunnel/daemon/data_plane.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>

namespace postern::tunnel::daemon {

class TunnelServer {
 public:
  TunnelServer(asio::io_context& io, const config::TunnelServerConfig& cfg, DataPlane& data_plane,
               std::shared_ptr<auth::PasswordBackend> passwords,
               std::shared_ptr<auth::RadiusAccounting> accounting = nullptr);
  ~TunnelServer();

  // Binds the control listener (throws std::runtime_error naming the address) and accepts.
  void start();
  void stop();
  // SIGHUP: re-reads the users file (a directory backend has nothing to re-read), the CRL and the deny list (keeping the old ones on error),
  // then ends every session whose certificate, deny entry or password user no longer passes.
  void reload();
  // Key requests from the data plane threads (thread-safe: posts to the io_context).
  void request_key(std::shared_ptr<PeerSession> session, Direction direction, std::uint32_t epoch);
  // The data plane queued frames for the TLS fallback (thread-safe: posts to the io_context).
  void on_tls_frames(std::shared_ptr<PeerSession> session);

  // The tunnel identity (user or certificate name) holding an inner address, "" if none.
  // Thread-safe (SMTP asks from its own handlers).
  std::string identity_of(const IpAddress& inner_address) const;
  std::size_t connection_count() const;

  // What the control side refused, by reason, since start. Call on the io_context thread (the
  // status and metrics snapshots run there); the counts are plain integers owned by that thread.
  struct Counters {
    std::uint64_t handshake_timeout = 0;      // no TLS handshake within the limit
    std::uint64_t handshake_certificate = 0;  // client certificate failed verification (CA, CRL)
    std::uint64_t handshake_denied = 0;       // certificate on the deny list
    std::uint64_t handshake_tls = 0;          // any other TLS handshake failure
    std::uint64_t handshake_limit = 0;        // closed at accept: max_pending_handshakes[_per_source]
    std::uint64_t handshake_evicted = 0;      // pending ones closed to make room for newer ones
    std::uint64_t auth_ok = 0;                // passwords accepted
    std::uint64_t auth_bad_password = 0;      // unknown user or wrong password
    std::uint64_t auth_throttled = 0;         // refused unchecked: locked out, in flight, queue full
    std::uint64_t auth_no_users = 0;          // a password sent but no users file configured
    std::uint64_t auth_unavailable = 0;       // the password backend could not answer (directory down)
    std::uint64_t sessions_established = 0;   // data channels set up
    std::uint64_t throttled_sources = 0;      // sources the password throttle tracks now (gauge)
  };
  Counters counters() const;

 private:
  struct Connection;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> housekeeping();
  void reap_idle(std::chrono::steady_clock::time_point now);
  asio::awaitable<void> handshake(std::shared_ptr<Connection> connection);
  void begin_negotiation(const std::shared_ptr<Connection>& connection);
  void verify_password(const std::shared_ptr<Connection>& connection, std::string user, SecretBytes password);
  void run_next_verification();
  void on_verified(const std::weak_ptr<Connection>& weak, const std::string& source, const std::string& user,
                   auth::PasswordVerdict verdict);
  void refuse_password(Connection& connection, const std::string& user, std::string_view reason);
  void release_handshake_slot(Connection& connection);
  bool evict_oldest_pending(std::chrono::steady_clock::time_point now);
  void establish(Connection& connection, std::shared_ptr<PeerSession> session, const control::TunnelParameters& params);
  void teardown(Connection& connection, const std::string& reason);
  void forget_addresses(Connection& connection);
  void account(Connection& connection, auth::radius::AcctStatus status, std::chrono::steady_clock::time_point now,
               std::optional<auth::radius::TerminateCause> cause = std::nullopt);
  void send_interim_updates(std::chrono::steady_clock::time_point now);
  void end_revoked_sessions();
  std::string no_longer_allowed(Connection& connection);  // "" while still allowed
  std::uint32_t allocate_session_id();

  asio::io_context& io_;
  const config::TunnelServerConfig& cfg_;
  asio::ssl::context tls_;
  asio::ip::tcp::acceptor acceptor_;
  DataPlane& data_plane_;
  std::shared_ptr<auth::PasswordBackend> passwords_;
  std::shared_ptr<auth::RadiusAccounting> accounting_;  // null: no RADIUS accounting
  auth::DenyList deny_list_;
  auth::AuthThrottle throttle_;
  auth::HandshakeLimiter handshakes_;
  // Password checks waiting for the scrypt thread (io thread only), run one at a time; a
  // source's queued guesses are dropped unrun once it is locked out.
  struct VerifyJob {
    std::weak_ptr<Connection> connection;
    std::string user;
    SecretBytes password;
  };
  std::deque<VerifyJob> verify_queue_;
  bool verify_running_ = false;
  // Pending connections in accept order (pruned from the front), for eviction when full.
  std::deque<std::weak_ptr<Connection>> pending_order_;
  std::uint64_t handshakes_refused_ = 0;  // since the last log line about it
  std::uint64_t handshakes_evicted_ = 0;  // likewise
  std::chrono::steady_clock::time_point handshake_refusal_logged_{};
  control::AddressPool pool_;
  std::unique_ptr<control::AddressPool> pool6_;  // [tunnel] pool6; null: IPv4 only
  // Created on first use: the daemon drops privileges while still single-threaded.
  std::unique_ptr<asio::thread_pool> verify_pool_;
  std::map<std::uint32_t, std::shared_ptr<Connection>> connections_;  // by local session id
  mutable std::mutex identity_mutex_;
  std::map<IpAddress, std::string> identity_by_address_;
  std::uint64_t next_connection_number_ = 1;
  asio::steady_timer housekeeping_timer_;
  bool stopping_ = false;
  Counters counters_;  // throttled_sources is filled in by counters()
};

}  // namespace postern::tunnel::daemon
