// The glue between a finished negotiation and the data plane, shared by server and client:
// mapping the negotiated cipher and rekey limits to data-channel types, building a PeerSession
// and installing its first two epochs' keys exported from the TLS session.
#pragma once

#include "tunnel/control/tunnel_parameters.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/key_export.hpp"

#include <openssl/ssl.h>

#include <memory>

namespace postern::tunnel::daemon {

data::Limits to_limits(const control::TunnelParameters& params);

// Creates the session and installs epoch 0 (current) and 1 (next) in both directions.
// nullptr if the keys cannot be exported.
std::shared_ptr<PeerSession> make_peer_session(SSL* ssl, data::Role role, const control::TunnelParameters& params);

// Exports `epoch` and installs the key of `direction`. False if the export failed.
bool install_exported_key(SSL* ssl, data::Role role, PeerSession& session, Direction direction,
                          std::uint32_t epoch);

// 32 random bits (RAND_bytes): session ids and LCP magic numbers.
std::uint32_t random_u32();

}  // namespace postern::tunnel::daemon
