// Address value types used at the kernel boundary: IpAddress (v4 or v6), Cidr (address/prefix)
// and Endpoint (address:port), with text parsing, formatting and sockaddr conversion.
// Contract: pure values, no I/O, no allocation except to_string(). Parsers accept exactly the
// canonical forms "1.2.3.4", "::1", "10.0.0.0/8", "1.2.3.4:5", "[::1]:5" and return
// std::nullopt for anything else (they are fed operator config and peer text, never assert).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace postern::platform {

class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;  // 0.0.0.0
  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);
  static IpAddress any(Family family);       // 0.0.0.0 or ::
  static IpAddress loopback(Family family);  // 127.0.0.1 or ::1
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  int af() const { return is_v4() ? AF_INET : AF_INET6; }
  // 4 or 16 bytes in network order.
  std::span<const std::uint8_t> bytes() const { return {bytes_.data(), is_v4() ? 4U : 16U}; }
  std::uint8_t max_prefix() const { return is_v4() ? 32 : 128; }
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

std::string_view to_string(IpAddress::Family family);

struct Cidr {
  IpAddress address;
  std::uint8_t prefix_len = 0;

  // "10.0.0.0/8", "fd00::/64"; a bare address means a host prefix (/32 or /128).
  static std::optional<Cidr> parse(std::string_view text);
  // The same prefix with host bits cleared (the kernel rejects routes with host bits set).
  Cidr network() const;
  bool contains(const IpAddress& other) const;
  std::string to_string() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;
};

class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(IpAddress address, std::uint16_t port) : address_(address), port_(port) {}

  // "1.2.3.4:5" or "[::1]:5"; a bare IPv6 "::1:5" is rejected as ambiguous.
  static std::optional<Endpoint> parse(std::string_view text);
  // From a kernel-filled sockaddr (AF_INET or AF_INET6); nullopt for any other family/length.
  static std::optional<Endpoint> from_sockaddr(const sockaddr_storage& storage, socklen_t length);

  const IpAddress& address() const { return address_; }
  std::uint16_t port() const { return port_; }
  // Fills storage and returns the length to pass to bind/connect/sendto.
  socklen_t to_sockaddr(sockaddr_storage& storage) const;
  std::string to_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;

 private:
  IpAddress address_;
  std::uint16_t port_ = 0;
};

}  // namespace postern::platform
