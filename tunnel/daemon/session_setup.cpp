// Negotiation-to-data-plane glue (see session_setup.hpp).
#include "tunnel/daemon/session_setup.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace postern::tunnel::daemon {
namespace {
// Ample time for the peer's control thread to export and install the key after next (see
// data::Limits::min_epoch_time), tiny against any sensible rekey interval.
constexpr auto kMinEpochTime = std::chrono::milliseconds(200);
}  // namespace

data::Limits to_limits(const control::TunnelParameters& params) {
  data::Limits limits;
  if (params.rekey_interval.count() > 0) limits.rekey_after_time = params.rekey_interval;
  if (params.rekey_packets > 0) limits.rekey_after_packets = params.rekey_packets;
  limits.min_epoch_time = kMinEpochTime;
  // The hard limits must stay above the soft ones, whatever the operator configured.
  limits.reject_after_time = std::max(limits.reject_after_time, limits.rekey_after_time * 3 / 2);
  limits.reject_after_packets = std::max(limits.reject_after_packets, limits.rekey_after_packets * 2);
  return limits;
}

bool install_exported_key(SSL* ssl, data::Role role, PeerSession& session, Direction direction,
                          std::uint32_t epoch) {
  std::uint32_t client_sid = role == data::Role::client ? session.local_session_id : session.peer_session_id;
  std::uint32_t server_sid = role == data::Role::client ? session.peer_session_id : session.local_session_id;
  auto keys = export_epoch_keys(ssl, role, client_sid, server_sid, epoch);
  if (!keys) return false;
  DataPlane::install_key(session, direction, epoch, direction == Direction::send ? keys->send : keys->receive);
  return true;
}

std::shared_ptr<PeerSession> make_peer_session(SSL* ssl, data::Role role, const control::TunnelParameters& params) {
  auto session = std::make_shared<PeerSession>(params.local_session_id, params.peer_session_id,
                                               params.cipher, to_limits(params));
  for (std::uint32_t epoch : {data::kFirstEpoch, data::kFirstEpoch + 1}) {
    if (!install_exported_key(ssl, role, *session, Direction::send, epoch) ||
        !install_exported_key(ssl, role, *session, Direction::receive, epoch)) {
      return nullptr;
    }
  }
  return session;
}

std::uint32_t random_u32() {
  std::uint32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return v;
}

}  // namespace postern::tunnel::daemon
