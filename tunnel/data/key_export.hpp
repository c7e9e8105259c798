// The shared contract between the control layer (which calls SSL_export_keying_material) and the
// data channel (which only ever sees 32-byte per-direction keys): how the exporter context is
// built and how the 64 output bytes split into directions. Pure functions, no OpenSSL calls, so
// both sides and docs/data-channel.md agree by construction.
//   label   = kExporterLabel ("EXPORTER-postern-data-v1"), RFC 8446 section 7.5
//   context = client_session_id (4, BE) || server_session_id (4, BE) || epoch (4, BE)
//   output  = 64 bytes: [0, 32) client->server key, [32, 64) server->client key
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class Role { client, server };
std::string_view to_string(Role role);

std::array<std::uint8_t, kExporterContextSize> make_exporter_context(std::uint32_t client_session_id,
                                                                      std::uint32_t server_session_id,
                                                                      std::uint32_t epoch);

// Views into the exporter output (no copy: the caller owns the SecretBytes holding it).
std::span<const std::uint8_t, kKeySize> client_to_server_key(
    std::span<const std::uint8_t, kExporterOutputSize> material);
std::span<const std::uint8_t, kKeySize> server_to_client_key(
    std::span<const std::uint8_t, kExporterOutputSize> material);
// The key this role seals with (DataSender) and the key it opens with (DataReceiver).
std::span<const std::uint8_t, kKeySize> send_key(Role role,
                                                 std::span<const std::uint8_t, kExporterOutputSize> material);
std::span<const std::uint8_t, kKeySize> receive_key(Role role,
                                                    std::span<const std::uint8_t, kExporterOutputSize> material);

}  // namespace postern::tunnel::data
