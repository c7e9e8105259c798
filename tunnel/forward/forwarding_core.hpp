// The forwarding core: the session table and every per-packet rule of the data path, as
// functions of (packet, peer, now) that return what to do with the packet. The daemon's
// DataPlane only moves batches between the TUN device, the UDP socket and this core, and
// performs the actions it returns.
//
// Outbound (a packet read from the TUN, at slot[kSealHeadroom, + len)):
//   IP version check -> IPv6 for the link itself (ND, MLD) stays -> route (server: inner IPv4 or IPv6 destination -> session, by the
//   destination's key: the host-order uint32 or the 16-octet data::Ipv6Key; client: the one
//   session) -> MSS clamp (SYNs; IPv4 mtu-40, IPv6 mtu-60) -> seal in place -> transport: UDP to the session's current
//   endpoint (written into the caller's sockaddr) or the session's TLS fallback queue.
// Inbound (a UDP datagram from `from`, or a DATA frame that came inside TLS):
//   GRE header -> session by GRE key -> DataReceiver::open (replay check, AEAD, window moves
//   only after authentication) -> [authenticated from here] liveness stamps -> roaming (UDP:
//   the session's endpoint follows the authenticated source address, whatever it is: a new port
//   or a new network) -> transport (server: the session answers on the path of the client's
//   newest data frame, by packet counter: older frames of the other path are delivered but move
//   nothing, so interleaved paths switch once, see open_frame()) -> LCP echo: a request is answered on the transport it came by (sealed
//   into the caller's reply buffer, with no peer-chosen bytes reflected), a reply stamps the UDP
//   path as proven -> server: inner checks (full IPv4 or IPv6 header, source = the session's
//   address of that family, no client-to-client unless allowed) -> MSS clamp -> deliver to the TUN.
// Every drop names its reason (drop.hpp) and is counted once, here.
//
// Contract: no I/O, no clock (time is an argument), no Asio, no allocation per packet (results
// point into the caller's buffers; the reply buffer is the caller's, reused). Thread model: the
// table is guarded by a shared_mutex the caller takes once per batch (lock_table()) around
// outbound()/inbound_udp(); a session's sender, receiver and endpoint have their own mutexes
// (peer_session.hpp), so the TX thread, the RX thread and the control thread may all call in.
// A session pointer in a result is valid while the caller holds the table lock.
#pragma once

#include "tunnel/data/inner_check.hpp"
#include "tunnel/forward/drop.hpp"
#include "tunnel/forward/peer_session.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace postern::tunnel::forward {

using TimePoint = std::chrono::steady_clock::time_point;
using SessionRef = std::shared_ptr<PeerSession>;

struct ForwardingOptions {
  bool server = false;
  std::uint16_t mtu = 1400;
  bool mss_clamp = true;
  data::InnerPolicy inner;      // server: pool, server address, client_to_client
  std::uint32_t echo_magic = 0;  // our LCP magic number
};

// Traffic of every session since start: the live sessions' counters plus what each session
// that left had counted when it left, so the numbers never go down (metrics counters).
struct TrafficTotals {
  std::uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, rekeys = 0;
};

// What to do with one TUN packet.
struct Outbound {
  enum class Action : std::uint8_t { drop, send_udp, send_tls };
  Action action = Action::drop;
  Drop reason = Drop::tx_no_route;     // when dropped
  const SessionRef* session = nullptr;  // the routed session, also when sealing failed (check its epochs)
  std::size_t length = 0;               // the sealed frame: slot[0, length)
};

// What to do with one received frame.
struct Inbound {
  enum class Action : std::uint8_t {
    drop,     // `reason` says why
    deliver,  // write `packet` (inside the frame buffer) to the TUN
    reply,    // send `packet` (the sealed echo reply, inside the reply buffer) by `via`
    none,     // authenticated and consumed (an echo reply)
  };
  Action action = Action::drop;
  Drop reason = Drop::rx_bad_header;
  const SessionRef* session = nullptr;  // the authenticating session; null when not authenticated
  std::span<std::uint8_t> packet;
  Transport via = Transport::udp;
  bool peer_moved = false;               // the UDP endpoint changed from a known one (roaming)
  std::optional<Transport> switched_to;  // server: the session followed its client to this transport
};

// Epochs whose keys the control thread should export, each reported once.
struct KeyWants {
  std::optional<std::uint32_t> send, receive;
};

class ForwardingCore {
 public:
  // Room for a sealed LCP echo (request or reply) in a caller's buffer.
  static constexpr std::size_t kEchoFrameMax = 128;
  // Outbound plaintext observer (debug capture), called after the MSS clamp, before sealing.
  using InnerTap = std::function<void(std::span<const std::uint8_t>)>;

  explicit ForwardingCore(ForwardingOptions options);

  // --- the session table (control thread) ---
  void add_session(SessionRef session);
  void remove_session(std::uint32_t local_session_id);
  std::vector<SessionRef> sessions() const;
  TrafficTotals traffic_totals() const;
  // Held shared by the data threads once per batch around outbound() / inbound_udp().
  std::shared_lock<std::shared_mutex> lock_table() const { return std::shared_lock(table_mutex_); }

  // --- per packet ---
  // The TUN packet is slot[kSealHeadroom, kSealHeadroom + packet_len); sealed in place. On
  // send_udp, `to`/`to_len` receive the session's current endpoint.
  Outbound outbound(std::span<std::uint8_t> slot, std::size_t packet_len, TimePoint now, sockaddr_storage& to,
                    socklen_t& to_len);
  // A UDP datagram from `from`; opened in place. `reply` (>= kEchoFrameMax) takes an echo reply.
  Inbound inbound_udp(std::span<std::uint8_t> frame, const sockaddr_storage& from, socklen_t from_len, TimePoint now,
                      std::span<std::uint8_t> reply);
  // A data-channel frame that arrived inside the TLS connection of `session`.
  Inbound inbound_tls(const SessionRef& session, std::span<std::uint8_t> frame, TimePoint now,
                      std::span<std::uint8_t> reply);

  // An LCP Echo-Request sealed into `out` (>= kEchoFrameMax); its length, 0 if it could not be sealed.
  std::size_t seal_echo_request(PeerSession& session, std::uint8_t identifier, TimePoint now,
                                std::span<std::uint8_t> out);
  // Moves the session to `to`, counting the switch; false if it was already there.
  static bool switch_transport(PeerSession& session, Transport to);
  // The epochs `session` still needs keys for that nobody asked for yet (marks them asked).
  static KeyWants take_key_wants(PeerSession& session);
  // Copies the session's endpoint; false when it has none yet.
  static bool endpoint_of(PeerSession& session, sockaddr_storage& to, socklen_t& to_len);

  // A drop the adapter saw itself (the kernel refused a send or a TUN write, the TLS queue was full).
  void count(Drop drop) { drops_.bump(drop); }
  const DropCounters& drops() const { return drops_; }
  const ForwardingOptions& options() const { return options_; }
  void set_inner_tap(InnerTap tap) { tap_ = std::move(tap); }

 private:
  struct Opened {
    data::OpenResult result;
    std::optional<Transport> switched;  // server: the session followed its client here
  };
  const SessionRef* route(std::span<const std::uint8_t> packet) const;
  Opened open_frame(PeerSession& session, std::span<std::uint8_t> frame, Transport via, TimePoint now);
  Inbound opened(const SessionRef& session, data::OpenResult& result, Transport via, TimePoint now,
                 std::span<std::uint8_t> reply);
  Inbound answer_lcp(const SessionRef& session, std::span<const std::uint8_t> payload, Transport via, TimePoint now,
                     std::span<std::uint8_t> reply);
  std::optional<Drop> inner_refused(const PeerSession& session, std::span<const std::uint8_t> packet) const;
  // Counts the drop (and on the session, when known); the result names no session.
  Inbound drop(Drop reason, PeerSession* session = nullptr);

  ForwardingOptions options_;
  std::uint16_t max_mss_;   // IPv4: mtu - 40
  std::uint16_t max_mss6_;  // IPv6: mtu - 60 (a 40-octet IPv6 header)
  std::uint16_t max_mss_of(std::span<const std::uint8_t> packet) const {
    return !packet.empty() && (packet[0] >> 4) == 6 ? max_mss6_ : max_mss_;
  }
  DropCounters drops_;
  InnerTap tap_;

  mutable std::shared_mutex table_mutex_;
  TrafficTotals ended_;  // sessions removed so far; guarded by table_mutex_
  std::unordered_map<std::uint32_t, SessionRef> by_id_;
  std::unordered_map<std::uint32_t, SessionRef> by_address_;
  std::unordered_map<data::Ipv6Key, SessionRef, data::Ipv6KeyHash> by_address6_;
};

}  // namespace postern::tunnel::forward
