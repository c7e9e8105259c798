// Address pool for tunnel clients (sans-I/O, time passed in), one per family: the IPv4 pool
// and the IPv6 pool6 are two instances of this class. The first host of the prefix is the
// server's tunnel address; the network address, the last address of the prefix (the IPv4
// broadcast) and the server address are never handed out. Leases are sticky per identity (user
// name or certificate CN): the same identity gets the same address back across reconnects.
// release() keeps the address reserved for a grace period so a reconnecting client finds it
// again; expire(now) frees leases whose grace has passed (assign() calls it too).
// Several sessions with the same identity share its address (a holder count); the daemon decides
// whether a new session replaces the old one. Not thread-safe: used from one executor.
// Free addresses: a pool of at most kScanHosts addresses (IPv4 /16 and longer, IPv6 /112 and
// longer) is scanned from a cursor; a larger pool (an IPv4 /8: 2^24 addresses, an IPv6 /64:
// 2^64) is not enumerated: a new identity starts at a hash of its name (FNV-1a, so the same identity lands
// on the same address after a server restart too) and probes at most kMaxProbes addresses from
// there; all of them taken counts as exhausted (with a /64 that needs billions of leases).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/ip_address.hpp"

namespace postern::tunnel::control {

class AddressPool {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  static constexpr std::uint64_t kScanHosts = 65536;  // up to this size: cursor scan
  static constexpr std::uint64_t kMaxProbes = 64;     // larger pools: probes from the hash

  // Throws std::invalid_argument unless host bits are zero and the prefix is IPv4 /8../30 or
  // IPv6 /64../124 (startup/config error, never network input).
  AddressPool(IpPrefix network, std::chrono::seconds grace);

  IpPrefix network() const { return network_; }
  IpAddress server_address() const { return network_.first_host(); }
  std::uint8_t prefix_len() const { return network_.prefix_len; }
  IpAddress::Family family() const { return network_.address.family(); }
  std::uint64_t capacity() const;        // addresses available to clients
  std::size_t leased() const { return by_address_.size(); }  // active or in grace

  // Address for `identity`, or nullopt when the pool is exhausted. Order of preference: the
  // identity's existing lease (always, while another session holds it); `requested` if it is a
  // client address of this pool and free or already the identity's; any free address.
  // Each successful call adds one holder; pair it with release().
  std::optional<IpAddress> assign(std::string_view identity, std::optional<IpAddress> requested, TimePoint now);
  // An address chosen by the site's directory (RADIUS Framed-IP-Address) for `identity`.
  // Given only if it is a client address of this pool and no other identity's session holds it;
  // a lease of another identity that is merely in its grace period is taken over (the directory
  // is the authority), and the identity's own lease in grace moves to it. assigned adds one
  // holder (pair it with release()), as assign() does.
  enum class Framed { assigned, outside_pool, in_use, identity_holds_other };
  Framed assign_framed(std::string_view identity, IpAddress address, TimePoint now);

  // Drops one holder; when none remain the lease stays reserved until now + grace.
  void release(std::string_view identity, TimePoint now);
  // Frees leases whose grace period ended at or before now.
  void expire(TimePoint now);
  // Earliest grace end among released leases (for the daemon's housekeeping timer).
  std::optional<TimePoint> next_expiry() const;

  std::optional<IpAddress> lease_of(std::string_view identity) const;

 private:
  struct Lease {
    IpAddress address;
    int holders = 0;
    TimePoint released_at{};
  };
  bool is_client_address(IpAddress a) const;
  std::uint64_t offset_of(const IpAddress& a) const;  // host part (fits: at most 64 host bits)
  IpAddress at(std::uint64_t offset) const;
  std::optional<IpAddress> find_free(std::string_view identity);
  void move_lease(Lease& lease, const std::string& identity, IpAddress to);

  IpPrefix network_;
  std::chrono::seconds grace_;
  std::map<std::string, Lease, std::less<>> by_identity_;
  std::unordered_map<IpAddress, std::string> by_address_;
  std::uint64_t host_mask_ = 0;  // all host bits set: the last offset of the prefix
  std::uint64_t cursor_ = 0;     // next host offset to try, so freed addresses are not reused at once
};

// "assigned", "outside the pool", "in use by another session", "not the identity's current address"
std::string_view to_string(AddressPool::Framed result);

}  // namespace postern::tunnel::control
