// One tunnel peer as the data plane sees it: the two directions' crypto state, the peer's
// current UDP endpoint and traffic counters. Shared between the control thread (creates it,
// installs keys), the TX thread (seals with `sender`) and the RX thread (opens with `receiver`).
// Locking: tx_mutex guards sender, rx_mutex guards receiver, endpoint_mutex guards the endpoint;
// counters are atomics. A session is never used after DataPlane::remove_session() returns
// except through shared_ptrs still held by an in-flight batch (harmless: it just finishes).
// `transport` says where sealed frames go (transport.hpp): UDP, or `tls_out`, the bounded queue
// the control thread drains into the TLS connection (UDP fallback).
#pragma once

#include "tunnel/data/data_receiver.hpp"
#include "tunnel/data/data_sender.hpp"
#include "tunnel/data/inner_check.hpp"
#include "tunnel/forward/frame_queue.hpp"
#include "tunnel/forward/transport.hpp"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace postern::tunnel::forward {

struct PeerSession {
  PeerSession(std::uint32_t local_id, std::uint32_t peer_id, data::Suite suite, data::Limits limits)
      : local_session_id(local_id), peer_session_id(peer_id), sender(peer_id, suite, limits),
        receiver(local_id, suite, limits) {}

  const std::uint32_t local_session_id;  // we receive on it (GRE key of packets to us)
  const std::uint32_t peer_session_id;   // the peer receives on it
  std::uint32_t inner_address = 0;        // the client's tunnel IPv4 as its lookup key: IpAddress::to_v4_uint()
  std::optional<data::Ipv6Key> inner_address6;  // its tunnel IPv6 as a key; nullopt: IPv4-only session
  std::string identity;                  // user or certificate identity, for status/logs
  std::string log_id;
  // The client certificate the session logged in with (server side; unix seconds, 0: none), for
  // `postern status` and the expiry warnings. Set before the session joins the data plane.
  std::int64_t certificate_not_before = 0, certificate_not_after = 0;

  std::mutex tx_mutex;
  data::DataSender sender;
  std::mutex rx_mutex;
  data::DataReceiver receiver;
  // 1 + the packet counter of the newest authenticated data frame (0: none yet), by either
  // transport; guarded by rx_mutex. Only a frame newer than every one before it may move the
  // server's `transport` (forwarding_core.hpp, "which path the server answers on").
  std::uint64_t newest_data_frame = 0;

  std::mutex endpoint_mutex;
  sockaddr_storage endpoint{};  // where to send; learned from authenticated packets (roaming)
  socklen_t endpoint_len = 0;

  // Epochs already asked of the control thread, so a busy data path asks once.
  std::atomic<std::uint32_t> tx_epoch_requested{~0u};
  std::atomic<std::uint32_t> rx_epoch_requested{~0u};

  std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
  std::atomic<std::uint64_t> rx_dropped{0}, tx_dropped{0}, rekeys{0};
  std::atomic<std::int64_t> last_rx_ns{0};  // steady_clock time of the last authenticated packet
  // last_rx_ns as a time point; nullopt before the first authenticated packet.
  std::optional<std::chrono::steady_clock::time_point> last_rx() const {
    std::int64_t ns = last_rx_ns.load(std::memory_order_relaxed);
    if (ns == 0) return std::nullopt;
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(ns));
  }
  std::atomic<std::int64_t> last_udp_rx_ns{0};          // ... that came over UDP
  std::atomic<std::int64_t> last_udp_echo_reply_ns{0};  // ... that was an LCP echo reply over UDP

  // UDP fallback inside TLS. 256 frames of up to 2 KiB: ~4 ms of a saturated TLS path; a full
  // queue drops (TCP above us retransmits), it never blocks the data threads.
  static constexpr std::size_t kTlsQueueFrames = 256;
  static constexpr std::size_t kTlsMaxFrame = 2048;
  std::atomic<Transport> transport{Transport::udp};
  FrameQueue tls_out{kTlsQueueFrames, kTlsMaxFrame};
  std::atomic<std::uint64_t> tls_tx_frames{0}, tls_rx_frames{0}, transport_switches{0};
  std::atomic<std::int64_t> last_rekey_ns{0};  // steady_clock time a later-than-first key was installed
};

}  // namespace postern::tunnel::forward
