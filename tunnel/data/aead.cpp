// AEAD seal/open over OpenSSL EVP (see aead.hpp).
// Per packet: EVP_CipherInit_ex2 with only the IV (keeps the key schedule), AAD update, one
// in-place update (OpenSSL allows out == in), tag get/set, final.
#include "tunnel/data/aead.hpp"

#include <openssl/evp.h>

#include <climits>
#include <utility>

namespace postern::tunnel::data {
namespace {

const char* cipher_name(Suite suite) {
  return suite == Suite::aes_256_gcm ? "AES-256-GCM" : "ChaCha20-Poly1305";
}

bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }

}  // namespace

void make_nonce(std::uint64_t counter, std::span<std::uint8_t, kNonceSize> out) {
  out[0] = out[1] = out[2] = out[3] = 0;
  for (int i = 0; i < 8; ++i) out[4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
}

std::optional<AeadKey> AeadKey::create(Suite suite, AeadPurpose purpose, std::span<const std::uint8_t> key) {
  if (key.size() != kKeySize) return std::nullopt;
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, cipher_name(suite), nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const int enc = purpose == AeadPurpose::seal ? 1 : 0;
  if (cipher == nullptr || ctx == nullptr ||
      EVP_CipherInit_ex2(ctx, cipher, key.data(), nullptr, enc, nullptr) != 1 ||
      EVP_CIPHER_CTX_get_iv_length(ctx) != static_cast<int>(kNonceSize) ||
      EVP_CIPHER_CTX_get_key_length(ctx) != static_cast<int>(kKeySize)) {
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return std::nullopt;
  }
  return AeadKey(suite, purpose, cipher, ctx);
}

AeadKey::~AeadKey() { release(); }

void AeadKey::release() {
  EVP_CIPHER_CTX_free(ctx_);  // cleanses the key schedule
  EVP_CIPHER_free(cipher_);
  ctx_ = nullptr;
  cipher_ = nullptr;
}

AeadKey::AeadKey(AeadKey&& other) noexcept
    : suite_(other.suite_),
      purpose_(other.purpose_),
      cipher_(std::exchange(other.cipher_, nullptr)),
      ctx_(std::exchange(other.ctx_, nullptr)) {}

AeadKey& AeadKey::operator=(AeadKey&& other) noexcept {
  if (this != &other) {
    release();
    suite_ = other.suite_;
    purpose_ = other.purpose_;
    cipher_ = std::exchange(other.cipher_, nullptr);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

bool AeadKey::seal(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> buffer,
                   std::span<std::uint8_t, kTagSize> tag) {
  if (ctx_ == nullptr || purpose_ != AeadPurpose::seal || !fits_int(aad.size()) || !fits_int(buffer.size())) {
    return false;
  }
  std::uint8_t nonce[kNonceSize];
  make_nonce(counter, nonce);
  int len = 0;
  if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce, 1, nullptr) != 1) return false;
  if (EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) return false;
  if (EVP_CipherUpdate(ctx_, buffer.data(), &len, buffer.data(), static_cast<int>(buffer.size())) != 1) {
    return false;
  }
  if (EVP_CipherFinal_ex(ctx_, buffer.data() + len, &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag.data()) == 1;
}

bool AeadKey::open(std::uint64_t counter, std::span<const std::uint8_t> aad, std::span<std::uint8_t> buffer,
                   std::span<const std::uint8_t, kTagSize> tag) {
  if (ctx_ == nullptr || purpose_ != AeadPurpose::open || !fits_int(aad.size()) || !fits_int(buffer.size())) {
    return false;
  }
  std::uint8_t nonce[kNonceSize];
  make_nonce(counter, nonce);
  // OpenSSL's ctrl takes a non-const pointer but only copies the tag in (SET_TAG).
  std::uint8_t expected[kTagSize];
  for (std::size_t i = 0; i < kTagSize; ++i) expected[i] = tag[i];
  int len = 0;
  if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce, 0, nullptr) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), expected) != 1) return false;
  if (EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) return false;
  if (EVP_CipherUpdate(ctx_, buffer.data(), &len, buffer.data(), static_cast<int>(buffer.size())) != 1) {
    return false;
  }
  return EVP_CipherFinal_ex(ctx_, buffer.data() + len, &len) == 1;
}

}  // namespace postern::tunnel::data
