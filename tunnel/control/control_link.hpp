// The part of a negotiator that is the same on both ends (internal to postern_tunnel_control,
// public only because negotiators hold one by value): the ControlReader, the ordered action
// queue, the messages valid in every post-auth state (ECHO_*, DATA, TERMINATE) and the
// keepalive / dead-peer timers of an established session (RFC 1661 5.8 Echo-Request, used as
// a keepalive like pppd's lcp-echo-interval / lcp-echo-failure).
// Contract: sans-I/O; after close() it queues nothing more and ignores all input.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tunnel/control/actions.hpp"
#include "tunnel/control/control_errc.hpp"
#include "tunnel/control/control_message.hpp"
#include "tunnel/control/control_reader.hpp"

namespace postern::tunnel::control {

class ControlLink {
 public:
  ControlLink(std::string_view component, std::string log_id, std::uint32_t echo_magic);

  // Deframes bytes; frames come out of next_frame(). A framing error closes the link (with
  // TERMINATE) and next_frame() then returns nothing.
  void feed(std::span<const std::uint8_t> bytes, TimePoint now);
  std::optional<Frame> next_frame();

  void send(std::vector<std::uint8_t> bytes);
  void emit(Action action) { actions_.push_back(std::move(action)); }
  std::vector<Action> take_actions();

  // Queues TERMINATE{reason} (if send_terminate) and Closed. Idempotent.
  void close(std::string_view reason, std::error_code error, bool send_terminate);
  bool closed() const { return closed_; }

  // Starts echo/dead-peer timing (called on Established).
  void start_liveness(std::chrono::seconds keepalive, std::chrono::seconds dead_peer, TimePoint now);
  // The peer proved alive at `when` (a control message, or authenticated data-channel traffic
  // the daemon reports); never moves the stamp back.
  void note_rx(TimePoint when) { last_rx_ = std::max(last_rx_, when); }
  // Sends an echo or declares the peer dead if due. Returns true if the link closed.
  bool on_timer(TimePoint now);
  std::optional<TimePoint> liveness_deadline() const;

  // Handles ECHO_REQUEST/REPLY, DATA and TERMINATE when `established`; returns true if the
  // frame was one of those (consumed), false if the negotiator must handle it.
  bool handle_common(const Frame& frame, bool established, TimePoint now);

  const std::string& log_id() const { return log_id_; }
  std::string_view component() const { return component_; }

 private:
  std::string_view component_;
  std::string log_id_;
  std::uint32_t echo_magic_;
  ControlReader reader_;
  std::vector<Action> actions_;
  bool closed_ = false;
  bool live_ = false;
  std::chrono::seconds keepalive_{0};
  std::chrono::seconds dead_peer_{0};
  TimePoint last_rx_{};
  TimePoint next_echo_{};
  std::uint32_t next_echo_id_ = 1;
};

}  // namespace postern::tunnel::control
