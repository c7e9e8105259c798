// One control connection's glue (see control_connection.hpp).
#include "tunnel/daemon/control_connection.hpp"

#include "tunnel/control/negotiator_client.hpp"
#include "tunnel/control/negotiator_server.hpp"
#include "tunnel/daemon/session_setup.hpp"

namespace postern::tunnel::daemon {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

template <class Negotiator>
ControlConnection<Negotiator>::ControlConnection(DataPlane& data_plane, data::Role role,
                                                 std::shared_ptr<ControlStream> stream)
    : data_plane_(data_plane), role_(role), stream_(std::move(stream)) {}

template <class Negotiator>
ControlConnection<Negotiator>::~ControlConnection() = default;

template <class Negotiator>
void ControlConnection<Negotiator>::start(std::unique_ptr<Negotiator> negotiator) {
  negotiator_ = std::move(negotiator);
  std::weak_ptr<ControlConnection> weak = this->weak_from_this();
  ControlStream::Driver driver;
  driver.on_bytes = [weak](std::span<const std::uint8_t> bytes, SteadyTime now) {
    if (auto c = weak.lock()) {
      c->negotiator_->feed(bytes, now);
      c->drain();
    }
  };
  driver.on_timer = [weak](SteadyTime now) {
    if (auto c = weak.lock()) {
      // Liveness follows the data: authenticated data-channel traffic keeps the session up.
      if (auto seen = c->session_ ? c->session_->last_rx() : std::nullopt) c->negotiator_->note_peer_alive(*seen);
      c->negotiator_->on_timer(now);
      c->drain();
    }
  };
  driver.next_deadline = [weak]() -> std::optional<SteadyTime> {
    auto c = weak.lock();
    return c ? c->negotiator_->next_deadline() : std::nullopt;
  };
  driver.on_writable = [weak] {
    if (auto c = weak.lock()) c->flush_tls_frames();
  };
  driver.on_closed = [weak](const std::string& reason) {
    if (auto c = weak.lock()) c->on_stream_ended(reason);
  };
  stream_->start(std::move(driver));
  drain();
}

// In order, as actions.hpp asks. What performing an action queues (a hook's terminate(), say)
// is performed in the same call.
template <class Negotiator>
void ControlConnection<Negotiator>::drain() {
  auto self = this->shared_from_this();  // a hook may drop the role's last reference
  for (auto actions = negotiator_->take_actions(); !actions.empty(); actions = negotiator_->take_actions()) {
    for (auto& action : actions) perform(action);
  }
}

template <class Negotiator>
void ControlConnection<Negotiator>::perform(control::Action& action) {
  if (auto* send = std::get_if<control::SendBytes>(&action)) {
    stream_->send(send->bytes);
  } else if (auto* verify = std::get_if<control::VerifyPassword>(&action)) {
    on_verify_password(*verify);
  } else if (auto* established = std::get_if<control::Established>(&action)) {
    auto session = make_peer_session(ssl(), role_, established->params);
    if (!session) {
      negotiator_->terminate("cannot export data-channel keys", Clock::now());
      return;
    }
    on_established(std::move(session), established->params);
  } else if (auto* frame = std::get_if<control::DataFrame>(&action)) {
    // Data means the peer has chosen TLS: the forwarding core follows it (echoes may be probes).
    if (session_) data_plane_.receive_over_tls(session_, frame->bytes);
  } else if (auto* closed = std::get_if<control::Closed>(&action)) {
    closed_ = true;
    stream_->close(closed->reason);
    on_closed(*closed);
  }
}

template <class Negotiator>
void ControlConnection<Negotiator>::on_stream_ended(const std::string& reason) {
  negotiator_->terminate(reason, Clock::now());
  drain();
  closed_ = true;
  on_ended(reason);
}

template <class Negotiator>
void ControlConnection<Negotiator>::terminate(std::string_view reason, SteadyTime now) {
  negotiator_->terminate(reason, now);
  drain();
}

template <class Negotiator>
void ControlConnection<Negotiator>::attach_session(std::shared_ptr<PeerSession> session) {
  session_ = std::move(session);
  data_plane_.add_session(session_);
}

template <class Negotiator>
void ControlConnection<Negotiator>::detach_session() {
  if (session_) data_plane_.remove_session(session_->local_session_id);
}

// While the peer is slow to read, frames stay in the session's bounded queue (where overflow is
// dropped and counted as tx_tls_queue_full) instead of piling up in the stream; the stream's
// on_writable resumes. The queue's whole content fits under the stream's hard cap.
static_assert(PeerSession::kTlsQueueFrames * PeerSession::kTlsMaxFrame + ControlStream::kBacklog <
              ControlStream::kMaxQueued);
template <class Negotiator>
void ControlConnection<Negotiator>::flush_tls_frames() {
  if (!session_ || closed_ || stream_->backlogged()) return;
  session_->tls_out.drain([&](std::span<const std::uint8_t> frame) { negotiator_->send_data_frame(frame); });
  drain();
}

template <class Negotiator>
bool ControlConnection<Negotiator>::install_key(Direction direction, std::uint32_t epoch) {
  if (!session_ || closed_ || !install_exported_key(ssl(), role_, *session_, direction, epoch)) return false;
  if (direction == Direction::send) session_->rekeys.fetch_add(1);
  return true;
}

template class ControlConnection<control::ServerNegotiator>;
template class ControlConnection<control::ClientNegotiator>;

}  // namespace postern::tunnel::daemon
