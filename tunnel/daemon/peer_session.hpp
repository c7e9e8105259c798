// One tunnel peer as the data plane sees it: the two directions' crypto state, the peer's
// current UDP endpoint and traffic counters. Shared between the control thread (creates it,
// installs keys), the TX thread (seals with `sender`) and the RX thread (opens with `receiver`).
// Locking: tx_mutex guards sender, rx_mutex guards receiver, endpoint_mutex guards the endpoint;
// counters are atomics. A session is never used after DataPlane::remove_session() returns
// except through shared_ptrs still held by an in-flight batch (harmless: it just finishes).
#pragma once

#include "tunnel/data/data_receiver.hpp"
#include "tunnel/data/data_sender.hpp"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace postern::tunnel::daemon {

struct PeerSession {
  PeerSession(std::uint32_t local_id, std::uint32_t peer_id, data::Suite suite, data::Limits limits)
      : local_session_id(local_id), peer_session_id(peer_id), sender(peer_id, suite, limits),
        receiver(local_id, suite, limits) {}

  const std::uint32_t local_session_id;  // we receive on it (GRE key of packets to us)
  const std::uint32_t peer_session_id;   // the peer receives on it
  std::uint32_t inner_address = 0;        // the client's tunnel IPv4 (host order)
  std::string identity;                  // user or certificate identity, for status/logs
  std::string log_id;

  std::mutex tx_mutex;
  data::DataSender sender;
  std::mutex rx_mutex;
  data::DataReceiver receiver;

  std::mutex endpoint_mutex;
  sockaddr_storage endpoint{};  // where to send; learned from authenticated packets (roaming)
  socklen_t endpoint_len = 0;

  // Epochs already asked of the control thread, so a busy data path asks once.
  std::atomic<std::uint32_t> tx_epoch_requested{~0u};
  std::atomic<std::uint32_t> rx_epoch_requested{~0u};

  std::atomic<std::uint64_t> tx_packets{0}, tx_bytes{0}, rx_packets{0}, rx_bytes{0};
  std::atomic<std::uint64_t> rx_dropped{0}, tx_dropped{0}, rekeys{0};
  std::atomic<std::int64_t> last_rx_ns{0};  // steady_clock time of the last authenticated packet
};

}  // namespace postern::tunnel::daemon
