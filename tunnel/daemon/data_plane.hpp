// The data plane: two threads that move packets between the TUN device and the UDP socket.
//   TX thread: TUN read_batch -> route to a session (server: by inner destination address;
//              client: the one session) -> MSS clamp -> seal in place -> sendmmsg batch.
//   RX thread: recvmmsg batch -> GRE key -> session -> open in place (replay window moves only
//              after the AEAD open succeeded) -> inner source check (server) -> MSS clamp ->
//              TUN write; LCP echo requests are answered on the spot.
// Offloads (platform/offload.hpp), when the TUN accepts them: the TX thread's read_batch gets
// TCP super-packets from the kernel (TSO) and hands them over already cut into MTU-sized
// segments, so everything after it still sees one inner packet per slot; the RX thread
// coalesces consecutive in-order segments of one TCP flow within a batch into one super-packet
// (GRO) and writes it with one write(), after every per-packet check has passed.
// Buffers are allocated once per thread; nothing on the per-packet path allocates or fetches a
// cipher. Datagrams that do not authenticate change no state and get no answer; they are
// counted by reason (stats()).
// UDP fallback (transport.hpp): for a session whose transport is tls, the TX thread pushes the
// sealed frame into the session's tls_out queue instead of the UDP batch and wakes the control
// thread (TlsFramesReady, once per burst); the control thread sends them as DATA messages and
// hands frames that arrived that way to receive_over_tls(), which is the RX path minus the
// socket. Echo requests are answered on the transport they came by. The server follows its
// client: DATA frames over TLS move the session to tls, authenticated non-echo UDP moves it back.
// Keys come from the control thread: when a session's sender or receiver wants its next epoch,
// the data thread calls KeyRequest once per epoch; the control thread exports the key from TLS
// and calls install_key(). The session table is guarded by a shared_mutex taken once per batch.
#pragma once

#include "common/secret.hpp"
#include "platform/pcap_writer.hpp"
#include "platform/tun_device.hpp"
#include "platform/udp_socket.hpp"
#include "tunnel/data/inner_check.hpp"
#include "tunnel/daemon/peer_session.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace postern::tunnel::daemon {

enum class Direction { send, receive };

struct DataPlaneOptions {
  bool server = false;
  std::uint16_t mtu = 1400;
  bool mss_clamp = true;
  bool client_to_client = false;
  std::uint32_t pool_network = 0;  // server: the tunnel pool (host order), for client isolation
  std::uint32_t pool_mask = 0;
  std::uint32_t server_address = 0;
  std::uint32_t echo_magic = 0;  // our LCP magic number
  // TUN TSO/GRO and UDP GSO/GRO (docs/performance.md): ~5x single-stream throughput. Off by
  // default until the netns tests that count ACK-direction packets (resilience_rekey) or need a
  // slow transfer (resilience_rebind) are adjusted; then this default becomes true.
  bool offload = false;
};

struct DataPlaneStats {
  std::uint64_t rx_datagrams = 0;
  std::uint64_t rx_bad_header = 0;
  std::uint64_t rx_unknown_session = 0;
  std::uint64_t rx_dropped_by_session = 0;  // authentication, replay, epoch... (per session)
  std::uint64_t rx_spoofed_source = 0;
  std::uint64_t rx_client_to_client = 0;
  std::uint64_t tx_no_route = 0;
  std::uint64_t tx_no_endpoint = 0;
  std::uint64_t tx_seal_failed = 0;
  std::uint64_t tx_send_errors = 0;
  std::uint64_t tun_write_errors = 0;
  std::uint64_t tx_tls_queue_full = 0;  // frames for the TLS fallback dropped: queue full
  std::uint64_t rx_bad_inner = 0;       // authenticated, but not an IPv4 packet with a full header
};

// Traffic of every session since start: the live sessions' counters plus what each session
// that left had counted when it left, so the numbers never go down (metrics counters).
struct TrafficTotals {
  std::uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, rekeys = 0;
};

class DataPlane {
 public:
  using KeyRequest = std::function<void(std::shared_ptr<PeerSession>, Direction, std::uint32_t epoch)>;
  // Called from a data thread when a session's tls_out queue needs draining (must only post).
  using TlsFramesReady = std::function<void(std::shared_ptr<PeerSession>)>;
  enum class TlsFrameKind { dropped, echo, data };

  DataPlane(DataPlaneOptions options, platform::TunDevice tun, platform::UdpSocket udp, KeyRequest on_key_request);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  void start();
  void stop();

  void add_session(std::shared_ptr<PeerSession> session);
  void remove_session(std::uint32_t local_session_id);
  std::vector<std::shared_ptr<PeerSession>> sessions() const;
  // Installs an exported key; called by the control thread.
  static void install_key(PeerSession& session, Direction direction, std::uint32_t epoch,
                          const SecretBytes& key);
  // Sends an LCP echo request to the session's peer over `via` (keepalive, UDP probe, endpoint
  // announcement).
  void send_echo(const std::shared_ptr<PeerSession>& session, std::uint8_t identifier, Transport via);
  // Call before start(): where the data threads announce frames queued for the TLS fallback.
  void set_tls_frames_handler(TlsFramesReady handler) { on_tls_frames_ = std::move(handler); }
  // A data-channel frame that arrived inside TLS for `session` (control thread): opened in
  // place and delivered like a UDP datagram, without touching the session's UDP endpoint.
  TlsFrameKind receive_over_tls(const std::shared_ptr<PeerSession>& session, std::span<std::uint8_t> frame);
  // Moves the session to `to`; logs the switch with its reason. False if it was already there.
  static bool set_transport(PeerSession& session, Transport to, std::string_view reason);

  DataPlaneStats stats() const;
  // Sums under the table lock (shared), once per call: for snapshots, never the data path.
  TrafficTotals traffic_totals() const;
  const platform::TunDevice& tun() const { return tun_; }
  // Debug ([daemon] capture_inner): every inner packet (received after decryption, sent before
  // encryption) is appended to `writer`. Call before start(). Off costs one branch per packet;
  // on, the two threads take one mutex per packet (a debug feature, not a fast path).
  void capture_inner(platform::PcapWriter writer);

 private:
  static constexpr std::size_t kBatch = 64;
  struct Counters;
  struct InnerCapture;
  struct TunWriter;  // the RX thread's GRO state (null on the TLS path: plain writes)
  struct RxBatch {    // what the RX thread carries from one frame of a batch to the next
    std::chrono::steady_clock::time_point now;
    std::int64_t now_ns = 0;
    std::array<std::shared_ptr<PeerSession>, kBatch> owners;
    std::size_t used = 0;
    TunWriter* writer = nullptr;
  };

  void tx_loop();
  void rx_loop();
  PeerSession* receive_frame(std::span<std::uint8_t> payload, const platform::Datagram& d, RxBatch& batch);
  std::shared_ptr<PeerSession> route(std::span<const std::uint8_t> packet) const;
  void check_wanted_epochs(const std::shared_ptr<PeerSession>& session, std::chrono::steady_clock::time_point now);
  // Echo replies, inner checks, MSS clamp, TUN write: what happens to an opened packet.
  void deliver(const std::shared_ptr<PeerSession>& session, data::OpenResult& opened, Transport via,
               std::int64_t now_ns, TunWriter* writer = nullptr);
  void write_inner(TunWriter* writer, std::span<const std::uint8_t> packet);
  void flush_inner(TunWriter& writer);
  void handle_lcp(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> payload,
                  Transport via, std::int64_t now_ns);
  // Sends one sealed frame by `via` (UDP to the session's endpoint, or its TLS queue).
  void send_sealed(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame, Transport via);
  void queue_for_tls(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame);
  static void log_move(const PeerSession& session, const platform::Datagram& d);
  bool inner_allowed(const PeerSession& session, std::span<const std::uint8_t> packet);
  void capture(std::span<const std::uint8_t> packet);

  DataPlaneOptions options_;
  data::InnerPolicy inner_policy_;  // from options_, for the per-packet inner check
  platform::TunDevice tun_;
  platform::UdpSocket udp_;
  KeyRequest on_key_request_;
  TlsFramesReady on_tls_frames_;
  std::size_t slot_size_;

  mutable std::shared_mutex table_mutex_;
  TrafficTotals ended_;  // sessions removed so far; guarded by table_mutex_
  std::unordered_map<std::uint32_t, std::shared_ptr<PeerSession>> by_id_;
  std::unordered_map<std::uint32_t, std::shared_ptr<PeerSession>> by_address_;

  std::unique_ptr<Counters> counters_;
  std::unique_ptr<InnerCapture> capture_;  // null unless capture_inner()
  std::atomic<bool> stopping_{false};
  std::thread tx_thread_;
  std::thread rx_thread_;
};

}  // namespace postern::tunnel::daemon
