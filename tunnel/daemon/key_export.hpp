// Data-channel keys exported from the control channel's TLS session (RFC 8446 7.5). The context
// layout and the split of the 64 output bytes are tunnel/data/key_export.hpp's; this file only
// makes the OpenSSL call. Must run on the thread that owns the SSL object.
#pragma once

#include "common/secret.hpp"
#include "tunnel/data/key_export.hpp"

#include <openssl/ssl.h>

#include <cstdint>
#include <optional>

namespace postern::tunnel::daemon {

struct EpochKeys {
  SecretBytes send;     // this side's transmit key for the epoch
  SecretBytes receive;  // this side's receive key for the epoch
};

// nullopt if OpenSSL refuses (not a finished TLS 1.3 session).
std::optional<EpochKeys> export_epoch_keys(SSL* ssl, data::Role role, std::uint32_t client_session_id,
                                           std::uint32_t server_session_id, std::uint32_t epoch);

}  // namespace postern::tunnel::daemon
