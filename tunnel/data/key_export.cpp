// Exporter context and output layout (see key_export.hpp).
#include "tunnel/data/key_export.hpp"

namespace postern::tunnel::data {
namespace {

void put_be32(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 24);
  out[1] = static_cast<std::uint8_t>(value >> 16);
  out[2] = static_cast<std::uint8_t>(value >> 8);
  out[3] = static_cast<std::uint8_t>(value);
}

}  // namespace

std::string_view to_string(Role role) { return role == Role::client ? "client" : "server"; }

std::array<std::uint8_t, kExporterContextSize> make_exporter_context(std::uint32_t client_session_id,
                                                                      std::uint32_t server_session_id,
                                                                      std::uint32_t epoch) {
  std::array<std::uint8_t, kExporterContextSize> context{};
  put_be32(context.data(), client_session_id);
  put_be32(context.data() + 4, server_session_id);
  put_be32(context.data() + 8, epoch);
  return context;
}

std::span<const std::uint8_t, kKeySize> client_to_server_key(
    std::span<const std::uint8_t, kExporterOutputSize> material) {
  return material.first<kKeySize>();
}

std::span<const std::uint8_t, kKeySize> server_to_client_key(
    std::span<const std::uint8_t, kExporterOutputSize> material) {
  return material.last<kKeySize>();
}

std::span<const std::uint8_t, kKeySize> send_key(Role role,
                                                 std::span<const std::uint8_t, kExporterOutputSize> material) {
  return role == Role::client ? client_to_server_key(material) : server_to_client_key(material);
}

std::span<const std::uint8_t, kKeySize> receive_key(Role role,
                                                    std::span<const std::uint8_t, kExporterOutputSize> material) {
  return role == Role::client ? server_to_client_key(material) : client_to_server_key(material);
}

}  // namespace postern::tunnel::data
