// Client side of the control-channel negotiation (sans-I/O). Runs over an already established
// TLS 1.3 stream: plaintext bytes and the current time in, Actions out (see actions.hpp).
//   HELLO -> AUTH_OK -> LCP request/ack (MTU, keepalive, dead-peer) -> IPCP request/nak/request/ack
//   (address, prefix, server address, and with ipv6 the same for IPv6; DNS, routes of both
//   families) -> DATA_CHANNEL -> Established. A reject of only the optional attributes (IPv6,
//   accounting_session) is answered by asking again without them.
// After Established it keeps the TLS path alive with ECHO_REQUEST every keepalive interval and
// closes with errc::peer_dead after dead_peer seconds of silence.
// There are no retransmissions: TLS over TCP is reliable and ordered, so a lost Configure-Request
// (the reason PPP's Restart timer exists, RFC 1661 4.6) cannot happen; only the overall
// negotiation deadline remains.
// Contract: never reads the clock, never draws random numbers (session id and echo magic come
// in ClientConfig), never throws on network input. Not thread-safe: one executor per session.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret.hpp"
#include "tunnel/control/actions.hpp"
#include "tunnel/control/control_link.hpp"
#include "tunnel/control/tunnel_parameters.hpp"

namespace postern::tunnel::control {

struct ClientConfig {
  std::uint32_t receive_session_id = 0;   // 24-bit, random, chosen by the daemon
  std::uint32_t echo_magic = 0;           // random, chosen by the daemon (RFC 1661 6.4 magic)
  std::optional<std::string> user;        // sent in HELLO when set
  SecretBytes password;                   // sent in HELLO when non-empty (inside TLS only)
  std::vector<Cipher> ciphers{Cipher::aes_256_gcm, Cipher::chacha20_poly1305};  // preference order
  std::optional<IpAddress> previous_address;   // address from an earlier session, asked for again
  // Ask for inner IPv6 (IPCP address6), if the negotiated MTU allows IPv6 (>= 1280). A server
  // that rejects it (no pool6, or older) leaves the session IPv4 only.
  bool ipv6 = false;
  std::optional<IpAddress> previous_address6;  // IPv6 address from an earlier session, asked for again
  // Kept by the daemon for its whole life and presented in IPCP (valid_accounting_session());
  // empty: none. A server that rejects the attribute (older) gets the request without it.
  std::string accounting_session;
  std::uint16_t mtu = 1400;               // largest MTU we want; we accept a smaller NAK >= kMinMtu
  std::chrono::seconds keepalive{10};
  std::chrono::seconds dead_peer{60};
  std::chrono::seconds negotiation_timeout{30};
  std::string log_id;                     // session id for log lines
};

class ClientNegotiator {
 public:
  enum class State { idle, hello_sent, lcp, ipcp, wait_data_channel, established, closed };

  explicit ClientNegotiator(ClientConfig config);

  // Queues HELLO and arms the negotiation deadline (now + negotiation_timeout).
  void start(TimePoint now);
  // Plaintext bytes read from TLS. Any protocol error queues TERMINATE + Closed.
  void feed(std::span<const std::uint8_t> bytes, TimePoint now);
  // Call when next_deadline() has passed (calling early is harmless).
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  // Drains the actions queued so far, in order.
  std::vector<Action> take_actions() { return link_.take_actions(); }

  // Authenticated data-channel traffic from the peer was seen at `when` (UDP or TLS): counts as
  // liveness, so a session whose control connection went quiet (a laptop that moved to another
  // network) lives as long as its data does.
  void note_peer_alive(TimePoint when) { link_.note_rx(when); }
  // Encodes a DATA message (UDP fallback through TLS). Ignored unless established.
  void send_data_frame(std::span<const std::uint8_t> frame);
  // Queues TERMINATE{reason} and Closed{reason, {}}. Idempotent.
  void terminate(std::string_view reason, TimePoint now);

  State state() const { return state_; }

 private:
  void enter(State next);
  void sync_closed();  // moves to State::closed once the link has closed, whatever closed it
  void fail(std::error_code e, std::string_view reason);
  void handle(const Frame& frame, TimePoint now);
  void on_auth_ok();
  void on_auth_fail(const Frame& frame);
  void on_lcp(const Frame& frame);
  void on_ipcp(const Frame& frame);
  void on_data_channel(const Frame& frame, TimePoint now);

  ClientConfig config_;
  ControlLink link_;
  State state_ = State::idle;
  TimePoint negotiation_deadline_{};
  int failures_ = 0;  // NAK/REJECT rounds (RFC 1661 4.6 Max-Failure)
  LcpOptions lcp_request_;
  IpcpOptions ipcp_request_;
  TunnelParameters params_;
};

std::string_view to_string(ClientNegotiator::State s);

}  // namespace postern::tunnel::control
