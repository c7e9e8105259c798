// Data-channel key export (see key_export.hpp).
#include "tunnel/daemon/key_export.hpp"

namespace postern::tunnel::daemon {

std::optional<EpochKeys> export_epoch_keys(SSL* ssl, data::Role role, std::uint32_t client_session_id,
                                           std::uint32_t server_session_id, std::uint32_t epoch) {
  auto context = data::make_exporter_context(client_session_id, server_session_id, epoch);
  SecretBytes material(data::kExporterOutputSize);
  if (SSL_export_keying_material(ssl, material.data(), material.size(), data::kExporterLabel.data(),
                                 data::kExporterLabel.size(), context.data(), context.size(), 1) != 1) {
    return std::nullopt;
  }
  std::span<const std::uint8_t, data::kExporterOutputSize> view(material.data(), material.size());
  EpochKeys keys;
  keys.send = SecretBytes(std::span<const std::uint8_t>(data::send_key(role, view)));
  keys.receive = SecretBytes(std::span<const std::uint8_t>(data::receive_key(role, view)));
  return keys;
}

}  // namespace postern::tunnel::daemon
