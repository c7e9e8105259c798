// The one cipher enum (see cipher.hpp).
#include "common/cipher.hpp"

namespace postern {

std::string_view to_string(Cipher cipher) {
  switch (cipher) {
    case Cipher::aes_256_gcm: return "aes-256-gcm";
    case Cipher::chacha20_poly1305: return "chacha20-poly1305";
  }
  return "unknown";
}

std::optional<Cipher> parse_cipher(std::string_view text) {
  if (text == "aes-256-gcm") return Cipher::aes_256_gcm;
  if (text == "chacha20-poly1305") return Cipher::chacha20_poly1305;
  return std::nullopt;
}

std::optional<Cipher> cipher_from_wire(std::uint8_t value) {
  switch (value) {
    case 1: return Cipher::aes_256_gcm;
    case 2: return Cipher::chacha20_poly1305;
    default: return std::nullopt;
  }
}

}  // namespace postern
