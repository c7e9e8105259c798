// Parsing and formatting of IpAddress, Cidr and Endpoint (see endpoint.hpp). inet_pton/inet_ntop
// do the address syntax; this file only adds the strict framing around them (ports, brackets,
// prefixes) because those are where lenient parsing hides misconfiguration.
#include "platform/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace postern::platform {
namespace {

// Decimal without sign, leading '+', spaces or overflow; at most max.
std::optional<unsigned> parse_decimal(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

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
  // inet_pton needs a NUL-terminated string; longest valid text form is 45 chars.
  char buffer[INET6_ADDRSTRLEN + 1] = {};
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  IpAddress address;
  if (::inet_pton(AF_INET, buffer, address.bytes_.data()) == 1) {
    address.family_ = Family::v4;
    return address;
  }
  if (::inet_pton(AF_INET6, buffer, address.bytes_.data()) == 1) {
    address.family_ = Family::v6;
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(af(), bytes_.data(), buffer, sizeof(buffer));
  return buffer;
}

std::string_view to_string(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? "v4" : "v6";
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return Cidr{*address, address->max_prefix()};
  const auto prefix = parse_decimal(text.substr(slash + 1), address->max_prefix());
  if (!prefix) return std::nullopt;
  return Cidr{*address, static_cast<std::uint8_t>(*prefix)};
}

Cidr Cidr::network() const {
  auto bytes = address.bytes();
  std::array<std::uint8_t, 16> masked{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits_left = int{prefix_len} - static_cast<int>(i) * 8;
    const int keep = bits_left >= 8 ? 8 : (bits_left <= 0 ? 0 : bits_left);
    const auto mask = static_cast<std::uint8_t>(0xFF00U >> keep);
    masked[i] = bytes[i] & mask;
  }
  if (address.is_v4()) return {IpAddress::v4({masked[0], masked[1], masked[2], masked[3]}), prefix_len};
  return {IpAddress::v6(masked), prefix_len};
}

bool Cidr::contains(const IpAddress& other) const {
  if (other.family() != address.family()) return false;
  return Cidr{other, prefix_len}.network() == network();
}

std::string Cidr::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_len);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
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
  const auto port = parse_decimal(port_text, 65535);
  if (!address || !port) return std::nullopt;
  // Brackets are for IPv6 only, and IPv6 needs them.
  if (address->is_v4() == (text.front() == '[')) return std::nullopt;
  return Endpoint(*address, static_cast<std::uint16_t>(*port));
}

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr_storage& storage, socklen_t length) {
  if (storage.ss_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in{};
    std::memcpy(&in, &storage, sizeof(in));
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, 4);
    return Endpoint(IpAddress::v4(bytes), ntohs(in.sin_port));
  }
  if (storage.ss_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &storage, sizeof(in6));
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, 16);
    return Endpoint(IpAddress::v6(bytes), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& storage) const {
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

std::string Endpoint::to_string() const {
  const auto port = std::to_string(port_);
  return address_.is_v4() ? address_.to_string() + ":" + port
                          : "[" + address_.to_string() + "]:" + port;
}

}  // namespace postern::platform
