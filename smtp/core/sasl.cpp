// SASL helpers: see sasl.hpp.
#include "smtp/core/sasl.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace postern::smtp {
namespace {

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c) {
  const std::size_t pos = alphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

std::optional<SecretBytes> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') {
    ++pad;
    if (text[text.size() - 2] == '=') ++pad;  // size is a multiple of 4, so >= 4 here
  }
  SecretBytes out(text.size() / 4 * 3 - pad);
  std::size_t o = 0;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::uint32_t group = 0;
    const bool last = i + 4 == text.size();
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      int v = 0;
      if (c == '=') {
        if (!last || k < 4 - pad) return std::nullopt;  // '=' only as trailing padding
      } else {
        v = value_of(c);
        if (v < 0) return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(v);
    }
    const std::array<std::uint8_t, 3> bytes{static_cast<std::uint8_t>(group >> 16),
                                            static_cast<std::uint8_t>(group >> 8),
                                            static_cast<std::uint8_t>(group)};
    const std::size_t n = last ? 3 - pad : 3;
    for (std::size_t k = 0; k < n; ++k) out.data()[o++] = bytes[k];
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      group = (group << 8) | (k < n ? static_cast<std::uint8_t>(bytes[i + k]) : 0u);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? alphabet[(group >> (18 - 6 * k)) & 0x3F] : '=');
    }
  }
  return out;
}

std::optional<PlainCredentials> parse_plain(const SecretBytes& message) {
  const std::string_view m = message.view();
  const std::size_t first = m.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = m.find('\0', first + 1);
  if (second == std::string_view::npos || m.find('\0', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  PlainCredentials creds;
  creds.authzid = std::string(m.substr(0, first));
  creds.authcid = std::string(m.substr(first + 1, second - first - 1));
  creds.password = SecretBytes(m.substr(second + 1));
  if (creds.authcid.empty() || creds.password.empty()) return std::nullopt;
  return creds;
}

}  // namespace postern::smtp
