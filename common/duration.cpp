// Value parsers for the configuration (see duration.hpp and config.hpp).
#include "common/duration.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

namespace postern::config {
namespace {

template <typename Int>
std::optional<Int> parse_uint(std::string_view text) {
  Int v{};
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<Ipv4Address> parse_ipv4(std::string_view text) {
  Ipv4Address out = 0;
  for (int i = 0; i < 4; ++i) {
    auto dot = text.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) return std::nullopt;
    std::string_view part = text.substr(0, dot);
    // Reject "010": some parsers read it as octal, so it is ambiguous to humans.
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part.front() == '0')) return std::nullopt;
    auto v = parse_uint<unsigned>(part);
    if (!v || *v > 255) return std::nullopt;
    out = (out << 8) | *v;
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  }
  return out;
}

std::string format_ipv4(Ipv4Address a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

Ipv4Address Ipv4Cidr::netmask() const {
  return prefix_len == 0 ? 0 : ~Ipv4Address{0} << (32 - prefix_len);
}
Ipv4Address Ipv4Cidr::network() const { return address & netmask(); }
Ipv4Address Ipv4Cidr::broadcast() const { return network() | ~netmask(); }
Ipv4Address Ipv4Cidr::first_host() const { return prefix_len >= 31 ? network() : network() + 1; }
bool Ipv4Cidr::contains(Ipv4Address a) const { return (a & netmask()) == network(); }
std::string Ipv4Cidr::to_string() const {
  return format_ipv4(address) + "/" + std::to_string(prefix_len);
}

std::optional<Ipv4Cidr> parse_ipv4_cidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ipv4(text.substr(0, slash));
  auto len = parse_uint<unsigned>(text.substr(slash + 1));
  if (!addr || !len || *len > 32 || text.size() - slash - 1 > 2) return std::nullopt;
  return Ipv4Cidr{*addr, static_cast<std::uint8_t>(*len)};
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!text.empty()) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto number = parse_uint<std::uint64_t>(text.substr(0, digits));
    if (!number) return std::nullopt;
    text.remove_prefix(digits);
    std::size_t unit_len = 0;
    while (unit_len < text.size() && (text[unit_len] < '0' || text[unit_len] > '9')) ++unit_len;
    std::string_view unit = text.substr(0, unit_len);
    text.remove_prefix(unit_len);
    std::uint64_t scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return std::nullopt;
    // A year in milliseconds is ~3e10; anything near overflow is a typo.
    if (*number > (std::uint64_t{1} << 40) / scale) return std::nullopt;
    total += *number * scale;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  if (!text.empty() && (text.back() == 'B' || text.back() == 'b')) text.remove_suffix(1);
  std::uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': case 'k': scale = std::uint64_t{1} << 10; break;
      case 'M': case 'm': scale = std::uint64_t{1} << 20; break;
      case 'G': case 'g': scale = std::uint64_t{1} << 30; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  auto number = parse_uint<std::uint64_t>(text);
  if (!number || *number > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return *number * scale;
}

bool is_ip_literal(std::string_view host) {
  if (parse_ipv4(host)) return true;
  std::string s(host);
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET6, s.c_str(), buf.data()) == 1;
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ip_literal(host) || parse_ipv4(host)) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  auto p = parse_uint<std::uint32_t>(port);
  if (host.empty() || !p || *p == 0 || *p > 65535) return std::nullopt;
  return Endpoint{std::string(host), static_cast<std::uint16_t>(*p)};
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string_view to_string(AuthMode mode) {
  switch (mode) {
    case AuthMode::any: return "any";
    case AuthMode::certificate: return "certificate";
    case AuthMode::password: return "password";
    case AuthMode::both: return "both";
  }
  return "?";
}

std::string_view to_string(SmtpTlsMode mode) {
  switch (mode) {
    case SmtpTlsMode::starttls: return "starttls";
    case SmtpTlsMode::tls: return "tls";
    case SmtpTlsMode::auto_detect: return "auto";
  }
  return "?";
}

}  // namespace postern::config
