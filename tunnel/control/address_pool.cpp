// Sticky lease table (see address_pool.hpp). Two maps kept in step: identity -> lease and
// address -> identity. Free addresses are found by a cursor scan over the host range (at most
// 65536 steps, for an IPv4 /16 or an IPv6 /112, and usually one) or, in a larger pool, by at
// most kMaxProbes probes from the identity's hash.
#include "tunnel/control/address_pool.hpp"

#include <array>
#include <stdexcept>

namespace postern::tunnel::control {

AddressPool::AddressPool(IpPrefix network, std::chrono::seconds grace) : network_(network), grace_(grace) {
  const bool v4 = network.address.is_v4();
  if (v4 && (network.prefix_len < 8 || network.prefix_len > 30)) {
    throw std::invalid_argument("address pool prefix must be between /8 and /30: " + network.to_string());
  }
  if (!v4 && (network.prefix_len < 64 || network.prefix_len > 124)) {
    throw std::invalid_argument("IPv6 address pool prefix must be between /64 and /124: " + network.to_string());
  }
  if (network.has_host_bits()) {
    throw std::invalid_argument("address pool has host bits set: " + network.to_string());
  }
  const unsigned host_bits = network.address.max_prefix() - network.prefix_len;
  host_mask_ = host_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << host_bits) - 1;
}

std::uint64_t AddressPool::capacity() const {
  // Host range minus network, last address and the server's address.
  return host_mask_ - 2;
}

std::uint64_t AddressPool::offset_of(const IpAddress& a) const {
  // The host part lives in the last 4 (IPv4) or 8 (IPv6, prefix >= 64) octets.
  const auto bytes = a.bytes();
  const std::size_t tail = a.is_v4() ? 4 : 8;
  std::uint64_t v = 0;
  for (std::size_t i = bytes.size() - tail; i < bytes.size(); ++i) v = (v << 8) | bytes[i];
  return v & host_mask_;
}

IpAddress AddressPool::at(std::uint64_t offset) const {
  const auto net = network_.address.bytes();
  if (network_.address.is_v4()) {
    return IpAddress::from_v4_uint(network_.address.to_v4_uint() | static_cast<std::uint32_t>(offset & host_mask_));
  }
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < 16; ++i) bytes[i] = net[i];
  offset &= host_mask_;
  for (int i = 15; i >= 8; --i) {
    bytes[static_cast<std::size_t>(i)] |= static_cast<std::uint8_t>(offset);
    offset >>= 8;
  }
  return IpAddress::v6(bytes);
}

bool AddressPool::is_client_address(IpAddress a) const {
  if (!network_.contains(a)) return false;
  const std::uint64_t host = offset_of(a);
  return host != 0 && host != 1 && host != host_mask_;
}

std::optional<IpAddress> AddressPool::find_free(std::string_view identity) {
  if (host_mask_ < kScanHosts) {
    const std::uint64_t size = host_mask_ + 1;
    for (std::uint64_t i = 0; i < size; ++i) {
      const std::uint64_t host = (cursor_ + i) % size;
      const IpAddress a = at(host);
      if (is_client_address(a) && !by_address_.contains(a)) {
        cursor_ = (host + 1) % size;
        return a;
      }
    }
    return std::nullopt;
  }
  // Too large to enumerate: start where the identity hashes to, among the client offsets
  // 2 .. host_mask_-1, and probe forward.
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : identity) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
  const std::uint64_t clients = host_mask_ - 2;
  for (std::uint64_t i = 0; i < kMaxProbes; ++i) {
    const IpAddress a = at(2 + (h + i) % clients);
    if (!by_address_.contains(a)) return a;
  }
  return std::nullopt;
}

void AddressPool::move_lease(Lease& lease, const std::string& identity, IpAddress to) {
  by_address_.erase(lease.address);
  lease.address = to;
  by_address_[to] = identity;
}

std::optional<IpAddress> AddressPool::assign(std::string_view identity, std::optional<IpAddress> requested, TimePoint now) {
  expire(now);
  auto it = by_identity_.find(identity);
  const bool requested_ok = requested && is_client_address(*requested);
  if (it != by_identity_.end()) {
    Lease& lease = it->second;
    // While another session of this identity holds the address it cannot move; in grace it may
    // move to a free requested address (the client asked for it explicitly).
    if (lease.holders == 0 && requested_ok && *requested != lease.address && !by_address_.contains(*requested)) {
      move_lease(lease, it->first, *requested);
    }
    ++lease.holders;
    return lease.address;
  }
  std::optional<IpAddress> address;
  if (requested_ok && !by_address_.contains(*requested)) address = requested;
  if (!address) address = find_free(identity);
  if (!address) return std::nullopt;
  std::string key(identity);
  by_address_[*address] = key;
  by_identity_.emplace(std::move(key), Lease{*address, 1, {}});
  return address;
}

AddressPool::Framed AddressPool::assign_framed(std::string_view identity, IpAddress address, TimePoint now) {
  expire(now);
  if (!is_client_address(address)) return Framed::outside_pool;
  auto holder = by_address_.find(address);
  if (holder != by_address_.end() && holder->second != identity) {
    auto other = by_identity_.find(holder->second);
    if (other != by_identity_.end() && other->second.holders > 0) return Framed::in_use;
    if (other != by_identity_.end()) by_identity_.erase(other);  // in grace: the directory wins
    by_address_.erase(holder);
  }
  auto it = by_identity_.find(identity);
  if (it != by_identity_.end()) {
    Lease& lease = it->second;
    if (lease.address != address) {
      if (lease.holders > 0) return Framed::identity_holds_other;
      move_lease(lease, it->first, address);
    }
    ++lease.holders;
    return Framed::assigned;
  }
  std::string key(identity);
  by_address_[address] = key;
  by_identity_.emplace(std::move(key), Lease{address, 1, {}});
  return Framed::assigned;
}

std::string_view to_string(AddressPool::Framed result) {
  switch (result) {
    case AddressPool::Framed::assigned: return "assigned";
    case AddressPool::Framed::outside_pool: return "outside the pool";
    case AddressPool::Framed::in_use: return "in use by another session";
    case AddressPool::Framed::identity_holds_other: return "not the address this identity's other session holds";
  }
  return "unknown";
}

void AddressPool::release(std::string_view identity, TimePoint now) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end() || it->second.holders == 0) return;
  if (--it->second.holders == 0) it->second.released_at = now;
}

void AddressPool::expire(TimePoint now) {
  for (auto it = by_identity_.begin(); it != by_identity_.end();) {
    const Lease& lease = it->second;
    if (lease.holders == 0 && lease.released_at + grace_ <= now) {
      by_address_.erase(lease.address);
      it = by_identity_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<AddressPool::TimePoint> AddressPool::next_expiry() const {
  std::optional<TimePoint> earliest;
  for (const auto& [identity, lease] : by_identity_) {
    if (lease.holders != 0) continue;
    TimePoint end = lease.released_at + grace_;
    if (!earliest || end < *earliest) earliest = end;
  }
  return earliest;
}

std::optional<IpAddress> AddressPool::lease_of(std::string_view identity) const {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return std::nullopt;
  return it->second.address;
}

}  // namespace postern::tunnel::control
