// IPv4 addresses and CIDR prefixes as the control channel carries them (4 octets, network
// order on the wire, host-order uint32_t in memory). Plain values, no sockets: the daemon
// converts to asio::ip::address_v4 or in_addr at its edge.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::tunnel::control {

struct Ipv4 {
  std::uint32_t value = 0;  // host order: 10.0.0.1 == 0x0a000001

  static constexpr Ipv4 from_octets(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Ipv4{(std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d};
  }
  // Dotted quad, strict (no leading '+', no spaces, each octet 0..255). nullopt if malformed.
  static std::optional<Ipv4> parse(std::string_view text);
  std::string to_string() const;
  bool is_unspecified() const { return value == 0; }

  friend auto operator<=>(const Ipv4&, const Ipv4&) = default;
};

// A CIDR prefix such as 10.77.0.0/24. Routes and the address pool use it.
struct Cidr {
  Ipv4 network;
  std::uint8_t prefix_len = 0;  // 0..32

  // "a.b.c.d/n"; host bits must be zero. nullopt if malformed.
  static std::optional<Cidr> parse(std::string_view text);
  std::string to_string() const;
  std::uint32_t mask() const { return prefix_len == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_len); }
  bool contains(Ipv4 a) const { return (a.value & mask()) == network.value; }

  friend auto operator<=>(const Cidr&, const Cidr&) = default;
};

}  // namespace postern::tunnel::control
