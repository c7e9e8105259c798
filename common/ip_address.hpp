// The one vocabulary for IP addresses in postern: IpAddress (IPv4 or IPv6), IpPrefix (address
// and prefix length: pools, routes, trusted networks) and IpEndpoint (address and port: sockets,
// listeners), with strict text parsing, RFC 5952 formatting and sockaddr conversion. Config,
// the control channel, the forwarding core, platform/ and the tools all use these; a host that
// may be a DNS name is a different idea (common/host_port.hpp).
// Contract: pure values, no I/O, no allocation except to_string(). Parsers accept exactly
// "1.2.3.4" (no leading zeros, no shorthand), RFC 4291 IPv6 text without zone ids,
// "10.0.0.0/8", "fd00::/64", "1.2.3.4:5" and "[::1]:5", and return std::nullopt for anything
// else: they are fed operator config and peer text, so they never assert.
// sockaddr conversion lives here rather than in platform/ because sockaddr_in/sockaddr_in6 are
// plain POSIX structs (no syscall, no kernel state), and both the kernel adapters and the
// forwarding core (which writes a peer's endpoint into the caller's sockaddr) need it; keeping it
// beside the type means there is one conversion, not one per layer.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace postern {

class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;  // 0.0.0.0
  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);
  // IPv4 from its host-order value (10.0.0.1 == 0x0a000001), the form the pool and the
  // per-packet lookup compute with.
  static IpAddress from_v4_uint(std::uint32_t host_order);
  static IpAddress any(Family family);       // 0.0.0.0 or ::
  static IpAddress loopback(Family family);  // 127.0.0.1 or ::1
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_v6() const { return family_ == Family::v6; }
  int af() const { return is_v4() ? AF_INET : AF_INET6; }
  // 4 or 16 bytes in network order.
  std::span<const std::uint8_t> bytes() const { return {bytes_.data(), is_v4() ? 4U : 16U}; }
  std::uint8_t max_prefix() const { return is_v4() ? 32 : 128; }
  // IPv4 only: the host-order value; 0 for an IPv6 address (callers check is_v4() first).
  std::uint32_t to_v4_uint() const;
  bool is_unspecified() const;  // 0.0.0.0 or ::
  bool is_loopback() const;     // 127.0.0.0/8 or ::1
  // ::ffff:a.b.c.d (RFC 4291 2.5.5.2), what a dual-stack socket reports for an IPv4 peer.
  bool is_v4_mapped() const;
  // The IPv4 address a v4-mapped address stands for; any other address unchanged.
  IpAddress unmapped() const;
  // RFC 5952: lower case, the longest run of two or more zero groups (the first on a tie)
  // written "::", v4-mapped addresses as ::ffff:a.b.c.d.
  std::string to_string() const;

  // Orders by family (v4 first), then by bytes; total, so usable as a map key.
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first 4; the rest stay zero
};

std::string_view to_string(IpAddress::Family family);  // "v4", "v6"

// A prefix: `address` as written (10.77.0.1/24 keeps the .1) and its length. network() clears
// the host bits; routes and pools are built from network().
struct IpPrefix {
  IpAddress address;
  std::uint8_t prefix_len = 0;

  // "10.0.0.0/8", "fd00::/64": the "/len" is required (a bare address is not a prefix; use
  // host() for that), len within the family's 0..32 or 0..128, decimal without sign.
  static std::optional<IpPrefix> parse(std::string_view text);
  static IpPrefix host(const IpAddress& a) { return {a, a.max_prefix()}; }

  IpPrefix network() const;
  bool has_host_bits() const { return !(network() == *this); }
  bool contains(const IpAddress& other) const;  // false for the other family
  IpAddress netmask() const;                    // 255.255.255.0, ffff:ffff::
  // IPv4 helpers for the pool and IPCP: the all-ones host (10.77.0.255 for /24) and the first
  // usable host (10.77.0.1 for /24, the network itself for /31 and /32). For IPv6 broadcast()
  // is the last address of the prefix.
  IpAddress broadcast() const;
  IpAddress first_host() const;
  std::string to_string() const;  // "10.77.0.1/24"

  friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

class IpEndpoint {
 public:
  IpEndpoint() = default;
  IpEndpoint(IpAddress address, std::uint16_t port) : address_(address), port_(port) {}

  // "1.2.3.4:5" or "[::1]:5", port 0..65535; a bare IPv6 "::1:5" is rejected as ambiguous and
  // brackets around IPv4 are rejected.
  static std::optional<IpEndpoint> parse(std::string_view text);
  // From a kernel-filled sockaddr (AF_INET or AF_INET6); nullopt for any other family/length.
  static std::optional<IpEndpoint> from_sockaddr(const sockaddr_storage& storage, socklen_t length);

  const IpAddress& address() const { return address_; }
  std::uint16_t port() const { return port_; }
  // Fills storage and returns the length to pass to bind/connect/sendto.
  socklen_t to_sockaddr(sockaddr_storage& storage) const;
  std::string to_string() const;  // "1.2.3.4:5", "[::1]:5"

  friend bool operator==(const IpEndpoint&, const IpEndpoint&) = default;

 private:
  IpAddress address_;
  std::uint16_t port_ = 0;
};

}  // namespace postern

// Hash for unordered containers keyed by address (FNV-1a over family and bytes, no allocation).
template <>
struct std::hash<postern::IpAddress> {
  std::size_t operator()(const postern::IpAddress& a) const noexcept {
    std::uint64_t h = 14695981039346656037ULL ^ static_cast<std::uint64_t>(a.family());
    for (const auto byte : a.bytes()) h = (h ^ byte) * 1099511628211ULL;
    return static_cast<std::size_t>(h);
  }
};
