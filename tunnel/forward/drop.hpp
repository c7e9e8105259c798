// Why the forwarding core dropped a packet: one value per rule, one counter each, so an operator
// sees in `postern status` and the metrics which rule fired, not one folded number. The
// receiver's own reasons (data::DropReason) map one to one onto the rx_ values below.
// Contract: values only; DropCounters is a fixed array of relaxed atomics (bumped from the data
// threads and the control thread, read by the status snapshot), never allocates.
#pragma once

#include "tunnel/data/data_receiver.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace postern::tunnel::forward {

enum class Drop : std::uint8_t {
  // Inbound: a UDP datagram, or a DATA frame that came inside TLS.
  rx_bad_header,          // not a GRE/PPP frame of ours, truncated, or (TLS) another session's key
  rx_unknown_session,     // the GRE key names no session
  rx_unknown_epoch,       // no key for that epoch (expired previous, or not yet installed)
  rx_replayed,            // duplicate counter inside the replay window
  rx_too_old,             // counter left of the replay window
  rx_counter_exhausted,   // counter at or beyond the reject limit
  rx_auth_failed,         // the AEAD open failed (forged, corrupted, wrong key)
  rx_unknown_protocol,    // authenticated, but the PPP protocol is not IPv4/IPv6/LCP
  rx_bad_inner_version,   // authenticated, but the IP version disagrees with the PPP protocol
  rx_bad_inner,           // server: no full IPv4/IPv6 header, or IPv6 from a session without IPv6
  rx_spoofed_source,      // server: inner source is not the session's address
  rx_client_to_client,    // server: to another client while client_to_client is off
  rx_bad_lcp,             // authenticated LCP that is not an Echo-Request/Reply
  // Outbound: a packet read from the TUN device.
  tx_not_ip,              // neither a full IPv4 nor a full IPv6 header
  tx_no_route,            // no session owns the destination (server) / no session yet (client)
  tx_link_scope,          // IPv6 for the link itself (to ff0x::/16 of scope <= link, fe80::/10; from fe80::/10 or ::):
                          // the TUN's own router solicitations and MLD reports, never sent through the tunnel
  tx_no_endpoint,         // the session has no UDP address yet (its peer has not spoken)
  tx_seal_failed,         // no key, key expired, counter exhausted
  tx_tls_queue_full,      // the TLS fallback queue was full
  tx_send_error,          // the kernel refused the datagram (EMSGSIZE, unreachable...)
  tun_write_error,        // the TUN device refused the inner packet
  count_,                 // number of values; not a reason
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::count_);

std::string_view to_string(Drop drop);
// The counter of a receiver drop. `accepted` is not a drop: callers never pass it.
Drop drop_of(data::DropReason reason);

class DropCounters {
 public:
  void bump(Drop drop, std::uint64_t by = 1) {
    counts_[static_cast<std::size_t>(drop)].fetch_add(by, std::memory_order_relaxed);
  }
  std::uint64_t get(Drop drop) const { return counts_[static_cast<std::size_t>(drop)].load(std::memory_order_relaxed); }
  std::array<std::uint64_t, kDropCount> snapshot() const {
    std::array<std::uint64_t, kDropCount> out{};
    for (std::size_t i = 0; i < kDropCount; ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kDropCount> counts_{};
};

}  // namespace postern::tunnel::forward
