// SecretBytes storage (see secret.hpp).
#include "common/secret.hpp"

#include <openssl/crypto.h>

#include <cstring>

namespace postern {

SecretBytes::SecretBytes(std::size_t size) : data_(size ? new std::uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(std::span<const std::uint8_t> bytes) : SecretBytes(bytes.size()) {
  if (size_) std::memcpy(data_, bytes.data(), size_);
}

SecretBytes::SecretBytes(std::string_view text) : SecretBytes(text.size()) {
  if (size_) std::memcpy(data_, text.data(), size_);
}

void SecretBytes::wipe() {
  if (data_) {
    OPENSSL_cleanse(data_, size_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace postern
