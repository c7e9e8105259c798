// Shared machinery of both negotiators (see control_link.hpp): deframing, the action queue,
// echo keepalive and dead-peer detection, DATA fallback frames, TERMINATE.
#include "tunnel/control/control_link.hpp"

#include "common/log.hpp"

namespace postern::tunnel::control {

ControlLink::ControlLink(std::string_view component, std::string log_id, std::uint32_t echo_magic)
    : component_(component), log_id_(std::move(log_id)), echo_magic_(echo_magic) {}

void ControlLink::feed(std::span<const std::uint8_t> bytes, TimePoint now) {
  if (closed_ || bytes.empty()) return;
  // Any byte from the peer proves the TLS path alive, even a partial message.
  last_rx_ = now;
  reader_.feed(bytes);
}

std::optional<Frame> ControlLink::next_frame() {
  if (closed_) return std::nullopt;
  if (auto f = reader_.next()) return f;
  // Frames completed before a framing error are still handled (in order); then we close.
  if (auto ec = reader_.error()) close("protocol error: " + ec.message(), ec, true);
  return std::nullopt;
}

void ControlLink::send(std::vector<std::uint8_t> bytes) {
  if (closed_ || bytes.empty()) return;
  actions_.push_back(SendBytes{std::move(bytes)});
}

std::vector<Action> ControlLink::take_actions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

void ControlLink::close(std::string_view reason, std::error_code error, bool send_terminate) {
  if (closed_) return;
  if (send_terminate) send(encode_terminate(reason));
  closed_ = true;
  live_ = false;
  log::event(error ? log::Level::warning : log::Level::info, component_, log_id_, "closed",
             {{"reason", reason}, {"error", error ? error.message() : std::string("none")}});
  actions_.push_back(Closed{std::string(reason), error});
}

void ControlLink::start_liveness(std::chrono::seconds keepalive, std::chrono::seconds dead_peer, TimePoint now) {
  live_ = true;
  keepalive_ = keepalive;
  dead_peer_ = dead_peer;
  last_rx_ = now;
  next_echo_ = now + keepalive;
}

bool ControlLink::on_timer(TimePoint now) {
  if (closed_ || !live_) return closed_;
  if (now - last_rx_ >= dead_peer_) {
    close("peer dead", errc::peer_dead, true);
    return true;
  }
  if (now >= next_echo_) {
    // Echo only when the peer has been quiet for a keepalive interval: traffic already proves
    // liveness, and a quiet link still gets one probe per interval (pppd lcp-echo-adaptive).
    if (now - last_rx_ >= keepalive_) send(encode_echo(MessageType::echo_request, {next_echo_id_++, echo_magic_}));
    next_echo_ = now + keepalive_;
  }
  return false;
}

std::optional<TimePoint> ControlLink::liveness_deadline() const {
  if (closed_ || !live_) return std::nullopt;
  return std::min(next_echo_, last_rx_ + dead_peer_);
}

bool ControlLink::handle_common(const Frame& frame, bool established, TimePoint now) {
  (void)now;
  if (frame.type == MessageType::terminate) {
    std::string reason;
    if (decode_reason(frame.body, reason)) reason.clear();  // a garbled reason still terminates
    close(reason.empty() ? "terminated by peer" : "terminated by peer: " + reason, errc::terminated_by_peer, false);
    return true;
  }
  if (!established) return false;
  switch (frame.type) {
    case MessageType::echo_request: {
      Echo e;
      if (auto ec = decode_echo(frame.body, e)) {
        close("malformed ECHO_REQUEST", ec, true);
      } else {
        send(encode_echo(MessageType::echo_reply, {e.id, echo_magic_}));
      }
      return true;
    }
    case MessageType::echo_reply: {
      Echo e;
      if (auto ec = decode_echo(frame.body, e)) close("malformed ECHO_REPLY", ec, true);
      return true;  // liveness was already noted in feed()
    }
    case MessageType::data:
      actions_.push_back(DataFrame{frame.body});
      return true;
    default:
      return false;
  }
}

}  // namespace postern::tunnel::control
