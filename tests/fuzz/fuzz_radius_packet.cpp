// Fuzzes the RADIUS answer checks (auth/radius_packet.hpp): whatever a server or an attacker on
// the path sends, decode_packet and check_response return a value or a refusal, never a crash.
// Invariants: a packet check_response accepts also decodes, and an accepted Access-* answer
// (Message-Authenticator required) is accepted when the requirement is off too.
#include "auth/radius_packet.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace postern::auth::radius;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const postern::SecretBytes secret(std::string_view("fuzz secret"));
  const std::span<const std::uint8_t> bytes(data, size);
  (void)decode_packet(bytes);
  Authenticator ra{};
  const std::uint8_t id = size > 1 ? data[1] : 0;
  auto access = check_response(bytes, Code::access_request, id, ra, secret);
  if (access.packet && !decode_packet(bytes)) std::abort();
  if (access.packet && !check_response(bytes, Code::access_request, id, ra, secret, false).packet) std::abort();
  (void)check_response(bytes, Code::accounting_request, id, ra, secret);
  return 0;
}
