// Sticky IPv4 lease table (see address_pool.hpp). Two maps kept in step: identity -> lease and
// address -> identity. Free addresses are found by a cursor scan over the host range, which is
// at most 65534 steps for the largest pool allowed (/16) and usually one.
#include "tunnel/control/address_pool.hpp"

#include <stdexcept>

namespace postern::tunnel::control {

AddressPool::AddressPool(IpPrefix network, std::chrono::seconds grace) : network_(network), grace_(grace) {
  if (!network.address.is_v4() || network.prefix_len < 16 || network.prefix_len > 30) {
    throw std::invalid_argument("address pool prefix must be between /16 and /30: " + network.to_string());
  }
  if (network.has_host_bits()) {
    throw std::invalid_argument("address pool has host bits set: " + network.to_string());
  }
}

std::size_t AddressPool::capacity() const {
  // Host range minus network, broadcast and the server's address.
  return (std::size_t{1} << (32 - network_.prefix_len)) - 3;
}

bool AddressPool::is_client_address(IpAddress a) const {
  if (!network_.contains(a)) return false;
  const std::uint32_t host_mask = ~network_.netmask().to_v4_uint();
  const std::uint32_t host = a.to_v4_uint() & host_mask;
  return host != 0 && host != 1 && host != host_mask;
}

std::optional<IpAddress> AddressPool::find_free() {
  const std::uint32_t size = std::uint32_t{1} << (32 - network_.prefix_len);
  for (std::uint32_t i = 0; i < size; ++i) {
    std::uint32_t host = (cursor_ + i) % size;
    const IpAddress a = IpAddress::from_v4_uint(network_.address.to_v4_uint() | host);
    if (is_client_address(a) && !by_address_.contains(a)) {
      cursor_ = (host + 1) % size;
      return a;
    }
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
  if (!address) address = find_free();
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
