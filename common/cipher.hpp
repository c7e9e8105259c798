// The data channel's AEAD, one enum for every layer: the configuration (`cipher = "..."`), the
// control negotiation (HELLO offers, DATA_CHANNEL chooses; the enum values are those wire
// numbers) and the data channel's keys (tunnel/data/aead.hpp). Both use 32-byte keys, 12-byte
// nonces and 16-byte tags.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace postern {

enum class Cipher : std::uint8_t {
  aes_256_gcm = 1,
  chacha20_poly1305 = 2,
};

std::string_view to_string(Cipher cipher);                    // "aes-256-gcm", "chacha20-poly1305"
std::optional<Cipher> parse_cipher(std::string_view text);    // the same names; nullopt otherwise
std::optional<Cipher> cipher_from_wire(std::uint8_t value);   // 1, 2; nullopt otherwise

}  // namespace postern
