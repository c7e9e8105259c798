// Server side of the control-channel negotiation (sans-I/O); the mirror of negotiator_client.hpp.
// Decides authentication (AuthPolicy x "TLS verified a client certificate" x password), asks the
// daemon to verify passwords (VerifyPassword action -> on_password_verified), checks LCP options
// against its limits (NAK with its own values, REJECT unknown options, RFC 1661 5.3/5.4),
// assigns the tunnel address from the shared AddressPool (IPCP NAK, RFC 1332 3.3) and, when the
// client asks (address6) and the server has one, an IPv6 address from the IPv6 pool (rejected
// otherwise, so the client continues IPv4 only), then sends DATA_CHANNEL and emits Established. Keepalive after that as on the client.
// No retransmissions: TLS is reliable (see negotiator_client.hpp).
// Contract: never reads the clock, no RNG (session id and echo magic come in ServerConfig), never
// throws on network input. The AddressPool is shared by all sessions: the daemon must call every
// negotiator from the same executor/strand as the pool (or lock around calls). The negotiator
// releases its address in the pool when it closes (with the time of the closing call); a daemon
// that drops a negotiator without it having closed must call terminate(reason, now) first.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tunnel/control/actions.hpp"
#include "tunnel/control/address_pool.hpp"
#include "tunnel/control/control_link.hpp"
#include "tunnel/control/tunnel_parameters.hpp"

namespace postern::tunnel::control {

// Which credentials a client must present. "any": a verified certificate OR a good password.
enum class AuthPolicy { any, certificate, password, both };
std::string_view to_string(AuthPolicy p);
std::optional<AuthPolicy> auth_policy_from_string(std::string_view s);

// What became of a password check (the daemon's backend verdict).
enum class PasswordCheck { accepted, rejected, unavailable };

// What TLS established about the client certificate, passed in by the daemon.
struct PeerCertificate {
  bool verified = false;   // TLS verified a client certificate against the configured CA
  std::string identity;    // its subject CN (empty if none)
};

struct ServerConfig {
  AuthPolicy policy = AuthPolicy::any;
  std::uint32_t receive_session_id = 0;  // 24-bit, chosen by the daemon, unique among sessions
  std::uint32_t echo_magic = 0;          // random, chosen by the daemon
  std::uint16_t data_port = 0;           // UDP data port announced in DATA_CHANNEL
  std::vector<Cipher> ciphers{Cipher::aes_256_gcm, Cipher::chacha20_poly1305};  // accepted
  std::uint16_t max_mtu = 1420;          // NAK anything above (with this value)
  std::chrono::seconds min_keepalive{1};
  std::chrono::seconds max_keepalive{300};
  std::chrono::seconds max_dead_peer{3600};
  std::chrono::seconds rekey_interval{0};  // 0 = none
  std::uint64_t rekey_packets = 0;         // 0 = none
  std::vector<IpAddress> dns;
  std::vector<dns::Domain> domains;  // pushed after the DNS servers; at most kMaxDomains
  std::vector<IpPrefix> routes;
  std::chrono::seconds negotiation_timeout{30};
  std::string log_id;
};

class ServerNegotiator {
 public:
  enum class State { wait_hello, verifying_password, lcp, ipcp, established, closed };

  // Arms the negotiation deadline (now + negotiation_timeout). `pool` (and `pool6`, the IPv6
  // pool, null when the server has none) must outlive this object.
  ServerNegotiator(ServerConfig config, PeerCertificate peer, AddressPool& pool, TimePoint now,
                   AddressPool* pool6 = nullptr);

  void feed(std::span<const std::uint8_t> bytes, TimePoint now);
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  std::vector<Action> take_actions() { return link_.take_actions(); }

  // Answer to a VerifyPassword action. Ignored unless in verifying_password (e.g. the session
  // was closed by a timeout meanwhile). unavailable: AUTH_FAIL kAuthUnavailableText and
  // Closed(auth_unavailable) (not to be counted as a bad password). `framed_address` (from the
  // directory) becomes the client's address at IPCP if the pool can give it, else the session
  // fails with errc::address_unavailable.
  void on_password_verified(PasswordCheck check, TimePoint now, std::optional<IpAddress> framed_address = std::nullopt);
  void on_password_verified(bool ok, TimePoint now) {
    on_password_verified(ok ? PasswordCheck::accepted : PasswordCheck::rejected, now);
  }
  // Authenticated data-channel traffic from the client was seen at `when`: counts as liveness.
  void note_peer_alive(TimePoint when) { link_.note_rx(when); }
  void send_data_frame(std::span<const std::uint8_t> frame);
  void terminate(std::string_view reason, TimePoint now);

  State state() const { return state_; }
  const std::string& identity() const { return params_.identity; }

 private:
  void enter(State next);
  void sync_closed(TimePoint now);  // State::closed + release the address once the link closed
  void fail(std::error_code e, std::string_view reason, TimePoint now);
  void handle(const Frame& frame, TimePoint now);
  void on_hello(const Frame& frame, TimePoint now);
  void refuse(std::string_view why, TimePoint now);
  void accept_auth(TimePoint now);
  LcpOptions lcp_counter_proposal(const LcpOptions& request) const;  // empty = acceptable
  void on_lcp_request(const Frame& frame, TimePoint now);
  void on_ipcp_request(const Frame& frame, TimePoint now);
  // The IPv6 half of an IPCP request: assigns from pool6 once; false when the IPv6 options must
  // be rejected (no pool6, pool6 exhausted), so the client goes on IPv4 only.
  bool take_ipv6(const IpcpOptions& req, TimePoint now);
  void release_addresses(TimePoint now);
  void establish(TimePoint now);

  ServerConfig config_;
  PeerCertificate peer_;
  AddressPool& pool_;
  AddressPool* pool6_;
  ControlLink link_;
  State state_ = State::wait_hello;
  TimePoint negotiation_deadline_;
  int failures_ = 0;
  bool address_held_ = false;
  bool address6_held_ = false;
  std::optional<IpAddress> requested_address_;
  std::optional<IpAddress> framed_address_;  // set by a directory's Framed-IP-Address
  TunnelParameters params_;
};

std::string_view to_string(ServerNegotiator::State s);

}  // namespace postern::tunnel::control
