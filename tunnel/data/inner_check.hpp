// The server's check of an authenticated inner packet before it reaches the TUN device: an IP
// packet with at least a full header, from the address the session was given (its IPv4 one, or
// for IPv6 its IPv6 one; a session without an IPv6 address may send no IPv6), and (unless
// client_to_client) not to another client of the pool (pool or pool6). Sans-I/O and
// allocation-free, so the data path calls it per packet; the verdict names the drop counter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/ip_address.hpp"

namespace postern::tunnel::data {

// The per-packet form of an inner IPv6 address, as IpAddress::to_v4_uint() is for IPv4: the
// 16 octets as two big-endian halves, compared and hashed without allocation (the forwarding
// core keys its IPv6 session table by it).
struct Ipv6Key {
  std::uint64_t hi = 0, lo = 0;
  static Ipv6Key load(const std::uint8_t* p);  // 16 octets in network order
  static Ipv6Key of(const IpAddress& a);       // an IPv6 address (IPv4: the key of ::a.b.c.d)
  IpAddress to_address() const;                // back to the vocabulary type (status, logs)
  friend bool operator==(const Ipv6Key&, const Ipv6Key&) = default;
};

struct Ipv6KeyHash {
  std::size_t operator()(const Ipv6Key& k) const noexcept {
    // Pool addresses differ in the low bits; fold the halves and mix (splitmix64 finaliser).
    std::uint64_t x = k.hi ^ (k.lo * 0x9e3779b97f4a7c15ULL);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<std::size_t>(x);
  }
};

enum class InnerVerdict {
  allowed,
  malformed,         // shorter than its IP header, not IPv4/IPv6, IHL < 5, or IPv6 from a session without IPv6
  spoofed_source,    // source is not the session's address
  client_to_client,  // to another client's address while client_to_client is off
};

struct InnerPolicy {
  std::uint32_t pool_network = 0;  // host order
  std::uint32_t pool_mask = 0;
  std::uint32_t server_address = 0;
  bool client_to_client = false;
  // IPv6 (pool6), when the server has one: network and mask as keys, and its own address.
  bool has_pool6 = false;
  Ipv6Key pool6_network{}, pool6_mask{}, server_address6{};
};

// session_address6: the session's IPv6 address (nullopt: the session carries IPv4 only).
InnerVerdict check_inner_packet(std::span<const std::uint8_t> packet, std::uint32_t session_address,
                                const std::optional<Ipv6Key>& session_address6, const InnerPolicy& policy);

}  // namespace postern::tunnel::data
