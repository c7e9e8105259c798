// Fuzzes the RADIUS answer checks (auth/radius_packet.hpp): whatever a server or an attacker on
// the path sends, decode_packet and check_response return a value or a refusal, never a crash.
// The secret is "fuzz secret" and the Request Authenticator all zeros, so a seed signed with
// those (tests/fuzz/corpus/radius_packet/) reaches the accepted paths.
// Invariants: a packet check_response accepts also decodes, and an accepted Access-* answer
// (Message-Authenticator required) is accepted when the requirement is off too; a decoded
// packet's attributes re-encoded by encode_response (signed) are accepted and decode to the
// same attributes; unhide_password(hide_password(p)) gives p back (without trailing NULs).
#include "auth/radius_packet.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

using namespace postern::auth::radius;

namespace {

const postern::SecretBytes& secret() {
  static const postern::SecretBytes s(std::string_view("fuzz secret"));
  return s;
}

void round_trip(const Packet& packet, const Authenticator& ra) {
  (void)packet.text(attr::reply_message);
  (void)packet.integer(attr::framed_ip_address);
  (void)packet.find(attr::class_);
  std::vector<Attribute> attributes;
  for (const auto& a : packet.attributes) {
    if (a.type != attr::message_authenticator) attributes.push_back(a);
  }
  const bool access = packet.code == Code::access_accept || packet.code == Code::access_reject ||
                      packet.code == Code::access_challenge;
  const Code code = access || packet.code == Code::accounting_response ? packet.code : Code::access_accept;
  const bool is_access = code != Code::accounting_response;
  const auto encoded = encode_response(code, packet.id, ra, secret(), attributes, is_access);
  if (encoded.empty()) return;  // over 4096 bytes with the Message-Authenticator
  const auto checked = check_response(encoded, is_access ? Code::access_request : Code::accounting_request,
                                      packet.id, ra, secret());
  if (!checked.packet) std::abort();
  std::vector<Attribute> again;
  for (const auto& a : checked.packet->attributes) {
    if (a.type != attr::message_authenticator) again.push_back(a);
  }
  if (again.size() != attributes.size()) std::abort();
  for (std::size_t i = 0; i < again.size(); ++i) {
    if (again[i].type != attributes[i].type || again[i].value != attributes[i].value) std::abort();
  }
}

void password_round_trip(std::span<const std::uint8_t> bytes, const Authenticator& ra) {
  const std::size_t n = std::min(bytes.size(), kMaxPassword);
  const postern::SecretBytes password(bytes.first(n));
  const auto hidden = hide_password(password, secret(), ra);
  if (hidden.size() % 16 != 0 || hidden.size() < 16) std::abort();
  const postern::SecretBytes back = unhide_password(hidden, secret(), ra);
  std::size_t len = n;
  while (len > 0 && bytes[len - 1] == 0) --len;
  if (back.size() != len || !std::equal(back.span().begin(), back.span().end(), bytes.begin())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  const auto decoded = decode_packet(bytes);
  Authenticator ra{};
  const std::uint8_t id = size > 1 ? data[1] : 0;
  auto access = check_response(bytes, Code::access_request, id, ra, secret());
  (void)to_string(access.error);
  if (access.packet && !decoded) std::abort();
  if (access.packet && !check_response(bytes, Code::access_request, id, ra, secret(), false).packet) std::abort();
  const auto accounting = check_response(bytes, Code::accounting_request, id, ra, secret());
  (void)to_string(accounting.error);
  if (decoded) {
    (void)to_string(decoded->code);
    round_trip(*decoded, ra);
  }
  password_round_trip(bytes.size() > 20 ? bytes.subspan(20) : bytes, ra);
  return 0;
}
