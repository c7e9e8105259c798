// One AEAD key of one direction (AES-256-GCM or ChaCha20-Poly1305, RFC 8439), keyed once and
// reused for every packet: the EVP_CIPHER is fetched once and the EVP_CIPHER_CTX keeps the key
// schedule, so a packet costs only an IV re-init (no allocation, no fetch, no key expansion).
// Nonce = 4 zero bytes || 64-bit counter, big-endian: unique per (key, packet) because each
// direction and epoch has its own key and the counter never repeats (wire.hpp).
// Contract: seal/open work in place on caller buffers; never throw on the data path; the raw key
// is not kept (OpenSSL wipes the context on free). Move-only; one thread at a time.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <optional>
#include <span>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class AeadPurpose { seal, open };

class AeadKey {
 public:
  // nullopt when the key is not kKeySize bytes or OpenSSL cannot provide the cipher.
  static std::optional<AeadKey> create(Suite suite, AeadPurpose purpose, std::span<const std::uint8_t> key);

  ~AeadKey();
  AeadKey(AeadKey&& other) noexcept;
  AeadKey& operator=(AeadKey&& other) noexcept;
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  Suite suite() const { return suite_; }
  AeadPurpose purpose() const { return purpose_; }

  // Encrypts `buffer` in place and writes the tag. False only if OpenSSL fails (or this key was
  // created for open); the buffer is then unspecified and must not be sent.
  bool seal(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> buffer,
            std::span<std::uint8_t, kTagSize> tag);
  // Decrypts `buffer` in place when the tag verifies. On false the buffer is unspecified
  // (partially decrypted garbage) and must be discarded.
  bool open(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> buffer,
            std::span<const std::uint8_t, kTagSize> tag);

 private:
  AeadKey(Suite suite, AeadPurpose purpose, EVP_CIPHER* cipher, EVP_CIPHER_CTX* ctx)
      : suite_(suite), purpose_(purpose), cipher_(cipher), ctx_(ctx) {}
  void release();

  Suite suite_;
  AeadPurpose purpose_;
  EVP_CIPHER* cipher_ = nullptr;
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

// 4 zero bytes || counter (8, BE).
void make_nonce(std::uint64_t counter, std::span<std::uint8_t, kNonceSize> out);

}  // namespace postern::tunnel::data
