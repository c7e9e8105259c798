// Parsing and formatting of IpAddress, IpPrefix and IpEndpoint (see ip_address.hpp). IPv4 text
// is parsed here (strict dotted quad: libc parsers differ on leading zeros and shorthand such as
// "10.1"); IPv6 syntax is inet_pton's (RFC 4291 2.2); output follows RFC 5952 and is written
// here, because inet_ntop prints "::a.b.c.d" for any address with six leading zero groups.
#include "common/ip_address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace postern {
namespace {

// Decimal of 1..digits digits, no sign, no leading zero (octal ambiguity), at most max.
std::optional<unsigned> parse_decimal(std::string_view text, unsigned max, std::size_t digits) {
  if (text.empty() || text.size() > digits) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

std::optional<std::array<std::uint8_t, 4>> parse_dotted_quad(std::string_view text) {
  std::array<std::uint8_t, 4> bytes{};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto dot = text.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) return std::nullopt;
    const auto octet = parse_decimal(text.substr(0, dot), 255, 3);
    if (!octet) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>(*octet);
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  }
  return bytes;
}

std::string format_v6(std::span<const std::uint8_t> b) {
  std::array<unsigned, 8> groups{};
  for (std::size_t i = 0; i < 8; ++i) groups[i] = (unsigned{b[2 * i]} << 8) | b[2 * i + 1];
  // RFC 5952 4.2: compress the longest run of >= 2 zero groups, the first one on a tie.
  std::size_t best = 8, best_len = 0;
  for (std::size_t i = 0; i < 8;) {
    std::size_t j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) best = i, best_len = j - i;
    i = j == i ? i + 1 : j;
  }
  std::string out;
  char group[8];
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(group, sizeof(group), "%x", groups[i]);
    out += group;
  }
  return out;
}

IpAddress with_bytes(IpAddress::Family family, const std::array<std::uint8_t, 16>& bytes) {
  if (family == IpAddress::Family::v4) return IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return IpAddress::v6(bytes);
}

// Bytes of the prefix mask of `len` bits over `size` bytes.
std::array<std::uint8_t, 16> mask_bytes(std::uint8_t len, std::size_t size) {
  std::array<std::uint8_t, 16> mask{};
  for (std::size_t i = 0; i < size; ++i) {
    const int bits_left = int{len} - static_cast<int>(i) * 8;
    const int keep = bits_left >= 8 ? 8 : (bits_left <= 0 ? 0 : bits_left);
    mask[i] = static_cast<std::uint8_t>(0xFF00U >> keep);
  }
  return mask;
}

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress address;
  address.family_ = Family::v4;
  std::memcpy(address.bytes_.data(), bytes.data(), bytes.size());
  return address;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  IpAddress address;
  address.family_ = Family::v6;
  address.bytes_ = bytes;
  return address;
}

IpAddress IpAddress::from_v4_uint(std::uint32_t a) {
  return v4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
             static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)});
}

IpAddress IpAddress::any(Family family) {
  return family == Family::v4 ? v4({}) : v6({});
}

IpAddress IpAddress::loopback(Family family) {
  if (family == Family::v4) return v4({127, 0, 0, 1});
  std::array<std::uint8_t, 16> bytes{};
  bytes[15] = 1;
  return v6(bytes);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) {
    const auto bytes = parse_dotted_quad(text);
    if (!bytes) return std::nullopt;
    return v4(*bytes);
  }
  // inet_pton needs a NUL-terminated string; the longest valid text form is 45 chars.
  char buffer[INET6_ADDRSTRLEN + 1] = {};
  if (text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  std::array<std::uint8_t, 16> bytes{};
  if (::inet_pton(AF_INET6, buffer, bytes.data()) != 1) return std::nullopt;
  return v6(bytes);
}

std::uint32_t IpAddress::to_v4_uint() const {
  if (!is_v4()) return 0;
  return (std::uint32_t{bytes_[0]} << 24) | (std::uint32_t{bytes_[1]} << 16) |
         (std::uint32_t{bytes_[2]} << 8) | bytes_[3];
}

bool IpAddress::is_unspecified() const { return bytes_ == std::array<std::uint8_t, 16>{}; }

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes_[0] == 127;
  return *this == loopback(Family::v6);
}

bool IpAddress::is_v4_mapped() const {
  return is_v6() && std::memcmp(bytes_.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

IpAddress IpAddress::unmapped() const {
  if (!is_v4_mapped()) return *this;
  return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

std::string IpAddress::to_string() const {
  if (is_v4_mapped()) return "::ffff:" + unmapped().to_string();
  if (is_v6()) return format_v6(bytes());
  return std::to_string(bytes_[0]) + '.' + std::to_string(bytes_[1]) + '.' + std::to_string(bytes_[2]) + '.' +
         std::to_string(bytes_[3]);
}

std::string_view to_string(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? "v4" : "v6";
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const auto prefix = parse_decimal(text.substr(slash + 1), address->max_prefix(), 3);
  if (!prefix) return std::nullopt;
  return IpPrefix{*address, static_cast<std::uint8_t>(*prefix)};
}

IpPrefix IpPrefix::network() const {
  const auto bytes = address.bytes();
  const auto mask = mask_bytes(prefix_len, bytes.size());
  std::array<std::uint8_t, 16> masked{};
  for (std::size_t i = 0; i < bytes.size(); ++i) masked[i] = bytes[i] & mask[i];
  return {with_bytes(address.family(), masked), prefix_len};
}

bool IpPrefix::contains(const IpAddress& other) const {
  if (other.family() != address.family()) return false;
  return IpPrefix{other, prefix_len}.network() == network();
}

IpAddress IpPrefix::netmask() const {
  return with_bytes(address.family(), mask_bytes(prefix_len, address.bytes().size()));
}

IpAddress IpPrefix::broadcast() const {
  const auto bytes = address.bytes();
  const auto mask = mask_bytes(prefix_len, bytes.size());
  std::array<std::uint8_t, 16> all_ones{};
  for (std::size_t i = 0; i < bytes.size(); ++i) all_ones[i] = static_cast<std::uint8_t>(bytes[i] | ~mask[i]);
  return with_bytes(address.family(), all_ones);
}

IpAddress IpPrefix::first_host() const {
  const IpAddress net = network().address;
  if (prefix_len + 1 >= address.max_prefix()) return net;  // /31, /32, /127, /128: no network address
  std::array<std::uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), net.bytes().data(), net.bytes().size());
  // The network address has its last host bit clear (prefix_len < max_prefix - 1), so +1 never carries.
  bytes[net.bytes().size() - 1] |= 1;
  return with_bytes(address.family(), bytes);
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_len);
}

std::optional<IpEndpoint> IpEndpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.find(':');
    // More than one colon without brackets would be an IPv6 literal: ambiguous with a port.
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  auto address = IpAddress::parse(host);
  const auto port = parse_decimal(port_text, 65535, 5);
  if (!address || !port) return std::nullopt;
  // Brackets are for IPv6 only, and IPv6 needs them.
  if (address->is_v4() == bracketed) return std::nullopt;
  return IpEndpoint(*address, static_cast<std::uint16_t>(*port));
}

std::optional<IpEndpoint> IpEndpoint::from_sockaddr(const sockaddr_storage& storage, socklen_t length) {
  if (storage.ss_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    std::memcpy(&in, &storage, sizeof(in));
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, 4);
    return IpEndpoint(IpAddress::v4(bytes), ntohs(in.sin_port));
  }
  if (storage.ss_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &storage, sizeof(in6));
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, 16);
    return IpEndpoint(IpAddress::v6(bytes), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

socklen_t IpEndpoint::to_sockaddr(sockaddr_storage& storage) const {
  storage = {};
  if (address_.is_v4()) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, address_.bytes().data(), 4);
    std::memcpy(&storage, &in, sizeof(in));
    return sizeof(in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  std::memcpy(&in6.sin6_addr, address_.bytes().data(), 16);
  std::memcpy(&storage, &in6, sizeof(in6));
  return sizeof(in6);
}

std::string IpEndpoint::to_string() const {
  const auto port = std::to_string(port_);
  return address_.is_v4() ? address_.to_string() + ":" + port : "[" + address_.to_string() + "]:" + port;
}

}  // namespace postern
