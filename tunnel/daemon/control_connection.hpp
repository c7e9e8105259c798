// One control connection, as the server (TunnelServer's Connection) and the client
// (TunnelClient's Attempt) both run it: the glue between its ControlStream (the byte pump),
// its negotiator (tunnel/control, sans-I/O: every protocol decision is made there) and the
// PeerSession it gave the data plane. Owned here, written once for both roles:
//   - the stream's Driver: bytes and timer ticks go to the negotiator (authenticated
//     data-channel traffic counts as the peer being alive, so the negotiator's echoes only
//     declare a peer dead when nothing at all came from it), then its actions are performed;
//   - the actions, in order (tunnel/control/actions.hpp): SendBytes to the stream, DataFrame
//     (a data frame that came inside TLS: the UDP fallback) to DataPlane::receive_over_tls,
//     Closed closes the stream; VerifyPassword and Established go to the role;
//   - the TLS fallback's outgoing side: frames the data threads queued in the session's
//     tls_out leave as DATA messages, paused while the stream is backlogged (ControlStream's
//     output cap) and resumed on its on_writable;
//   - key requests: a later epoch's key exported from this connection's TLS session and
//     installed in the session.
// What differs is the role's, through four hooks: the password check (server), what
// Established sets up (server: the address and accounting; client: the interface, rotation),
// and what a closed negotiation or an ended stream releases.
// It never decides anything the negotiator decides, never reads a socket but through
// ControlStream, and runs on the io_context thread only (the data threads' requests are posted
// there by the roles, which find the connection of a session).
#pragma once

#include "tunnel/control/actions.hpp"
#include "tunnel/data/key_export.hpp"
#include "tunnel/daemon/control_stream.hpp"
#include "tunnel/daemon/data_plane.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace postern::tunnel::control {
class ServerNegotiator;
class ClientNegotiator;
}  // namespace postern::tunnel::control

namespace postern::tunnel::daemon {

// Negotiator: control::ServerNegotiator or control::ClientNegotiator (instantiated for both in
// control_connection.cpp). The object must be owned by a std::shared_ptr before start().
template <class Negotiator>
class ControlConnection : public std::enable_shared_from_this<ControlConnection<Negotiator>> {
 public:
  // `stream` may still be in its TLS handshake; `role` selects the exported keys' direction.
  ControlConnection(DataPlane& data_plane, data::Role role, std::shared_ptr<ControlStream> stream);
  virtual ~ControlConnection();
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  ControlStream& stream() { return *stream_; }
  TlsStream& tls() { return stream_->stream(); }
  SSL* ssl() { return stream_->ssl(); }

  // After the TLS handshake: takes the negotiator, starts the stream's loops and performs the
  // negotiator's first actions.
  void start(std::unique_ptr<Negotiator> negotiator);
  bool started() const { return negotiator_ != nullptr; }
  Negotiator& negotiator() { return *negotiator_; }
  // Performs the negotiator's pending actions; call after every call into the negotiator.
  void drain();
  // negotiator().terminate(reason, now) and its actions (TERMINATE sent, Closed).
  void terminate(std::string_view reason, SteadyTime now);
  // The negotiation has closed (Closed performed) or the stream has ended.
  bool closed() const { return closed_; }

  // The session handed to the data plane (null before Established, or when it failed).
  const std::shared_ptr<PeerSession>& session() const { return session_; }
  // From on_established: the session is complete (addresses, endpoint): give it to the data plane.
  void attach_session(std::shared_ptr<PeerSession> session);
  // The session leaves the data plane (session() stays, for the final counters).
  void detach_session();

  // The data plane queued frames for the TLS fallback: send them as DATA messages, unless the
  // stream is backlogged (they wait in the session's bounded queue until on_writable).
  void flush_tls_frames();
  // Exports `epoch` from this TLS session and installs the key of `direction` in the session
  // (a send key counts as a rekey). False if closed, no session, or the export failed.
  bool install_key(Direction direction, std::uint32_t epoch);

 protected:
  // Established: `session` has its first keys (make_peer_session); the role completes it and
  // calls attach_session(), or calls terminate() to refuse it.
  virtual void on_established(std::shared_ptr<PeerSession> session, const control::TunnelParameters& params) = 0;
  // VerifyPassword (the server's only; a client never gets one).
  virtual void on_verify_password(control::VerifyPassword& request) { (void)request; }
  // Closed: the negotiation is over and the stream is closing (flushing the TERMINATE).
  virtual void on_closed(const control::Closed& closed) = 0;
  // The stream has ended (after on_closed, if the negotiation closed first); called once.
  virtual void on_ended(const std::string& reason) = 0;

 private:
  void perform(control::Action& action);
  void on_stream_ended(const std::string& reason);

  DataPlane& data_plane_;
  data::Role role_;
  std::shared_ptr<ControlStream> stream_;
  std::unique_ptr<Negotiator> negotiator_;
  std::shared_ptr<PeerSession> session_;
  bool closed_ = false;
};

using ServerControlConnection = ControlConnection<control::ServerNegotiator>;
using ClientControlConnection = ControlConnection<control::ClientNegotiator>;

}  // namespace postern::tunnel::daemon
