// Conversions between the address vocabulary (common/ip_address.hpp) and Asio's address and
// endpoint types, for the adapters that own Asio sockets (tunnel/daemon, smtp/server, tools).
// Header-only on purpose: postern_common links no Asio, and only code that already includes
// Asio includes this. Byte-wise, never through text.
#pragma once

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include <algorithm>
#include <array>

#include "common/ip_address.hpp"

namespace postern {

inline asio::ip::address to_asio(const IpAddress& a) {
  if (a.is_v4()) return asio::ip::address_v4(a.to_v4_uint());
  asio::ip::address_v6::bytes_type bytes{};
  std::copy(a.bytes().begin(), a.bytes().end(), bytes.begin());
  return asio::ip::address_v6(bytes);
}

// A v4-mapped IPv6 address stays IPv6 here; callers that want the IPv4 peer call unmapped().
inline IpAddress from_asio(const asio::ip::address& a) {
  if (a.is_v4()) return IpAddress::from_v4_uint(a.to_v4().to_uint());
  const auto b = a.to_v6().to_bytes();
  std::array<std::uint8_t, 16> bytes{};
  std::copy(b.begin(), b.end(), bytes.begin());
  return IpAddress::v6(bytes);
}

inline asio::ip::tcp::endpoint to_asio_tcp(const IpEndpoint& e) { return {to_asio(e.address()), e.port()}; }
inline asio::ip::udp::endpoint to_asio_udp(const IpEndpoint& e) { return {to_asio(e.address()), e.port()}; }

}  // namespace postern
