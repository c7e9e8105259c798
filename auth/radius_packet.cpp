// RADIUS encoding and answer checks (see radius_packet.hpp).
#include "auth/radius_packet.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace postern::auth::radius {
namespace {

constexpr std::size_t kMaxAttributeValue = 253;
constexpr std::size_t kMessageAuthenticatorOffset = kHeaderSize + 2;  // value of the first attribute

using Md5 = std::array<std::uint8_t, 16>;

Md5 md5(std::initializer_list<std::span<const std::uint8_t>> parts) {
  Md5 out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  for (auto part : parts) EVP_DigestUpdate(ctx, part.data(), part.size());
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

Md5 hmac_md5(const SecretBytes& key, std::span<const std::uint8_t> data) {
  Md5 out{};
  unsigned int len = 0;
  HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}

void put_header(std::vector<std::uint8_t>& out, Code code, std::uint8_t id, const Authenticator& authenticator) {
  out.push_back(static_cast<std::uint8_t>(code));
  out.push_back(id);
  out.push_back(0);
  out.push_back(0);
  out.insert(out.end(), authenticator.begin(), authenticator.end());
}

void put_attribute(std::vector<std::uint8_t>& out, const Attribute& a) {
  const std::size_t n = std::min(a.value.size(), kMaxAttributeValue);
  out.push_back(a.type);
  out.push_back(static_cast<std::uint8_t>(n + 2));
  out.insert(out.end(), a.value.begin(), a.value.begin() + static_cast<std::ptrdiff_t>(n));
}

void put_empty_message_authenticator(std::vector<std::uint8_t>& out) {
  out.push_back(attr::message_authenticator);
  out.push_back(18);
  out.insert(out.end(), 16, 0);
}

bool set_length(std::vector<std::uint8_t>& out) {
  if (out.size() > kMaxPacket) return false;
  out[2] = static_cast<std::uint8_t>(out.size() >> 8);
  out[3] = static_cast<std::uint8_t>(out.size());
  return true;
}

// RFC 3579 3.2: HMAC-MD5 over the packet with the Message-Authenticator value zeroed, and (for
// answers) the Request Authenticator in the authenticator field. `packet` holds it zeroed.
void sign_message_authenticator(std::vector<std::uint8_t>& packet, const SecretBytes& secret, std::size_t offset) {
  const Md5 mac = hmac_md5(secret, packet);
  std::copy(mac.begin(), mac.end(), packet.begin() + static_cast<std::ptrdiff_t>(offset));
}

std::span<const std::uint8_t> bytes_of(const SecretBytes& s) { return s.span(); }

}  // namespace

std::string_view to_string(Code code) {
  switch (code) {
    case Code::access_request: return "Access-Request";
    case Code::access_accept: return "Access-Accept";
    case Code::access_reject: return "Access-Reject";
    case Code::accounting_request: return "Accounting-Request";
    case Code::accounting_response: return "Accounting-Response";
    case Code::access_challenge: return "Access-Challenge";
  }
  return "unknown";
}

std::string_view to_string(ResponseError error) {
  switch (error) {
    case ResponseError::none: return "none";
    case ResponseError::malformed: return "malformed";
    case ResponseError::wrong_id: return "wrong_id";
    case ResponseError::unexpected_code: return "unexpected_code";
    case ResponseError::bad_authenticator: return "bad_authenticator";
    case ResponseError::missing_message_authenticator: return "missing_message_authenticator";
    case ResponseError::bad_message_authenticator: return "bad_message_authenticator";
  }
  return "unknown";
}

Attribute string_attribute(std::uint8_t type, std::string_view value) {
  value = value.substr(0, kMaxAttributeValue);
  return {type, std::vector<std::uint8_t>(value.begin(), value.end())};
}

Attribute integer_attribute(std::uint8_t type, std::uint32_t v) {
  return {type, {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                 static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}};
}

Attribute ipv4_attribute(std::uint8_t type, std::uint32_t address) { return integer_attribute(type, address); }

const Attribute* Packet::find(std::uint8_t type) const {
  for (const auto& a : attributes) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

std::optional<std::string> Packet::text(std::uint8_t type) const {
  std::optional<std::string> out;
  for (const auto& a : attributes) {
    if (a.type != type) continue;
    std::string part(a.value.begin(), a.value.end());
    out = out ? *out + " " + part : part;
  }
  return out;
}

std::optional<std::uint32_t> Packet::integer(std::uint8_t type) const {
  const Attribute* a = find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return (std::uint32_t{a->value[0]} << 24) | (std::uint32_t{a->value[1]} << 16) |
         (std::uint32_t{a->value[2]} << 8) | std::uint32_t{a->value[3]};
}

std::vector<std::uint8_t> hide_password(const SecretBytes& password, const SecretBytes& secret,
                                        const Authenticator& request_authenticator) {
  std::size_t padded = std::max<std::size_t>(16, (password.size() + 15) / 16 * 16);
  std::vector<std::uint8_t> out(padded, 0);
  std::copy(password.span().begin(), password.span().end(), out.begin());
  std::span<const std::uint8_t> previous = request_authenticator;
  for (std::size_t block = 0; block < padded; block += 16) {
    const Md5 b = md5({bytes_of(secret), previous});
    for (std::size_t i = 0; i < 16; ++i) out[block + i] ^= b[i];
    previous = std::span<const std::uint8_t>(out.data() + block, 16);
  }
  return out;
}

SecretBytes unhide_password(std::span<const std::uint8_t> hidden, const SecretBytes& secret,
                            const Authenticator& request_authenticator) {
  if (hidden.empty() || hidden.size() % 16 != 0) return SecretBytes();
  SecretBytes out(hidden.size());
  std::span<const std::uint8_t> previous = request_authenticator;
  for (std::size_t block = 0; block < hidden.size(); block += 16) {
    const Md5 b = md5({bytes_of(secret), previous});
    for (std::size_t i = 0; i < 16; ++i) out.data()[block + i] = hidden[block + i] ^ b[i];
    previous = hidden.subspan(block, 16);
  }
  std::size_t len = out.size();
  while (len > 0 && out.data()[len - 1] == 0) --len;
  return SecretBytes(out.span().first(len));
}

std::vector<std::uint8_t> encode_access_request(std::uint8_t id, const Authenticator& request_authenticator,
                                                const SecretBytes& secret, std::string_view user,
                                                const SecretBytes& password, const std::vector<Attribute>& extra) {
  if (password.size() > kMaxPassword) return {};
  std::vector<std::uint8_t> out;
  put_header(out, Code::access_request, id, request_authenticator);
  put_empty_message_authenticator(out);
  put_attribute(out, string_attribute(attr::user_name, user));
  put_attribute(out, Attribute{attr::user_password, hide_password(password, secret, request_authenticator)});
  for (const auto& a : extra) put_attribute(out, a);
  if (!set_length(out)) return {};
  sign_message_authenticator(out, secret, kMessageAuthenticatorOffset);
  return out;
}

std::vector<std::uint8_t> encode_accounting_request(std::uint8_t id, const SecretBytes& secret,
                                                    const std::vector<Attribute>& attributes) {
  std::vector<std::uint8_t> out;
  put_header(out, Code::accounting_request, id, Authenticator{});
  for (const auto& a : attributes) put_attribute(out, a);
  if (!set_length(out)) return {};
  const Md5 ra = md5({out, bytes_of(secret)});  // RFC 2866 3: over the packet with zeros there
  std::copy(ra.begin(), ra.end(), out.begin() + 4);
  return out;
}

std::vector<std::uint8_t> encode_response(Code code, std::uint8_t id, const Authenticator& request_authenticator,
                                          const SecretBytes& secret, const std::vector<Attribute>& attributes,
                                          bool message_authenticator) {
  std::vector<std::uint8_t> out;
  put_header(out, code, id, request_authenticator);
  if (message_authenticator) put_empty_message_authenticator(out);
  for (const auto& a : attributes) put_attribute(out, a);
  if (!set_length(out)) return {};
  if (message_authenticator) sign_message_authenticator(out, secret, kMessageAuthenticatorOffset);
  const Md5 response = md5({out, bytes_of(secret)});  // RA is in the header still
  std::copy(response.begin(), response.end(), out.begin() + 4);
  return out;
}

std::optional<Packet> decode_packet(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) return std::nullopt;
  const std::size_t length = (std::size_t{bytes[2]} << 8) | bytes[3];
  // RFC 2865 3: octets beyond Length are padding and ignored; fewer is malformed.
  if (length < kHeaderSize || length > kMaxPacket || length > bytes.size()) return std::nullopt;
  Packet p;
  p.code = static_cast<Code>(bytes[0]);
  p.id = bytes[1];
  std::copy(bytes.begin() + 4, bytes.begin() + 20, p.authenticator.begin());
  std::size_t at = kHeaderSize;
  while (at < length) {
    if (length - at < 2) return std::nullopt;
    const std::uint8_t type = bytes[at];
    const std::size_t len = bytes[at + 1];
    if (len < 2 || at + len > length) return std::nullopt;
    p.attributes.push_back({type, std::vector<std::uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(at + 2),
                                                            bytes.begin() + static_cast<std::ptrdiff_t>(at + len))});
    at += len;
  }
  return p;
}

CheckedResponse check_response(std::span<const std::uint8_t> bytes, Code request_code, std::uint8_t id,
                               const Authenticator& request_authenticator, const SecretBytes& secret,
                               bool require_message_authenticator) {
  auto packet = decode_packet(bytes);
  if (!packet) return {std::nullopt, ResponseError::malformed};
  if (packet->id != id) return {std::nullopt, ResponseError::wrong_id};
  const bool access = request_code == Code::access_request;
  const bool code_ok = access ? (packet->code == Code::access_accept || packet->code == Code::access_reject ||
                                 packet->code == Code::access_challenge)
                              : packet->code == Code::accounting_response;
  if (!code_ok) return {std::nullopt, ResponseError::unexpected_code};
  const std::size_t length = (std::size_t{bytes[2]} << 8) | bytes[3];
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length));
  std::copy(request_authenticator.begin(), request_authenticator.end(), copy.begin() + 4);
  const Md5 expected = md5({copy, bytes_of(secret)});
  if (!constant_time_equal(expected, packet->authenticator)) return {std::nullopt, ResponseError::bad_authenticator};
  if (access) {
    // Find the Message-Authenticator's offset, zero it in the copy (which already carries the
    // Request Authenticator), recompute.
    std::size_t at = kHeaderSize;
    std::optional<std::size_t> offset;
    while (at + 2 <= length) {
      if (copy[at] == attr::message_authenticator) {
        if (copy[at + 1] != 18) return {std::nullopt, ResponseError::bad_message_authenticator};
        offset = at + 2;
        break;
      }
      at += copy[at + 1];
    }
    if (!offset && !require_message_authenticator) return {std::move(packet), ResponseError::none};
    if (!offset) return {std::nullopt, ResponseError::missing_message_authenticator};
    std::array<std::uint8_t, 16> received{};
    std::copy(copy.begin() + static_cast<std::ptrdiff_t>(*offset), copy.begin() + static_cast<std::ptrdiff_t>(*offset + 16),
              received.begin());
    std::fill(copy.begin() + static_cast<std::ptrdiff_t>(*offset), copy.begin() + static_cast<std::ptrdiff_t>(*offset + 16), 0);
    const Md5 mac = hmac_md5(secret, copy);
    if (!constant_time_equal(mac, received)) return {std::nullopt, ResponseError::bad_message_authenticator};
  }
  return {std::move(packet), ResponseError::none};
}

}  // namespace postern::auth::radius
