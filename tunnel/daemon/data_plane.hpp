// The data plane: two threads that move batches between the TUN device, the UDP socket and the
// forwarding core (tunnel/forward/forwarding_core.hpp), which owns the session table and every
// per-packet rule (routing, MSS clamp, transport choice, inner checks, echo answers, roaming).
//   TX thread: TUN read_batch -> core.outbound() per packet (sealed in its own slot) ->
//              sendmmsg batch to UDP, or the session's TLS queue.
//   RX thread: recvmmsg batch -> core.inbound_udp() per frame -> TUN write (coalesced), or an
//              echo reply sent back at once; then, if it wrote to the TUN and the TX thread is
//              not reading, it reads the TUN itself and forwards what the kernel's stack
//              answered during that write (a ping reply, an ACK): one thread wake-up fewer per
//              round trip through a server-local address (answer_inline()).
// The UDP side is a DatagramPort (datagram_port.hpp), called once per batch: the real socket,
// or the fake network tests/tunnel/daemon/ runs a server and clients back to back over; the
// TUN side is a TunDevice, real or TunDevice::open_fake() (a socketpair).
// Offloads (platform/offload.hpp), when the TUN accepts them: the TX thread's read_batch gets
// TCP (and, with USO, UDP) super-packets from the kernel and hands them over already cut into MTU-sized
// segments, so everything after it still sees one inner packet per slot; the RX thread
// coalesces consecutive in-order segments of one TCP flow within a batch into one super-packet
// (GRO) and writes it with one write(), after every per-packet check has passed; with TUN USO
// (TunDevice::udp_offload_enabled()) equal-size datagrams of one UDP flow likewise.
// Buffers are allocated once per thread; nothing on the per-packet path allocates or fetches a
// cipher. Every drop is counted by reason in the core (stats()).
// UDP fallback (transport.hpp): for a session whose transport is tls, sealed frames go into the
// session's tls_out queue instead of the UDP batch and the control thread is woken
// (TlsFramesReady, once per burst); the control thread sends them as DATA messages and hands
// frames that arrived that way to receive_over_tls(), which is the RX path minus the socket.
// Keys come from the control thread: when a session's sender or receiver wants its next epoch,
// the data thread calls KeyRequest once per epoch; the control thread exports the key from TLS
// and calls install_key().
#pragma once

#include "common/secret.hpp"
#include "platform/pcap_writer.hpp"
#include "platform/tun_device.hpp"
#include "tunnel/daemon/datagram_port.hpp"
#include "tunnel/forward/forwarding_core.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

namespace postern::tunnel::daemon {

// The forwarding core's types, as the daemon's adapters name them.
using forward::PeerSession;
using forward::TrafficTotals;
using forward::Transport;

enum class Direction { send, receive };

struct DataPlaneOptions {
  bool server = false;
  std::uint16_t mtu = 1400;
  bool mss_clamp = true;
  bool client_to_client = false;
  IpPrefix pool;             // server: the tunnel pool (IPv4), for client isolation
  IpAddress server_address;  // server: its own tunnel address
  std::optional<IpPrefix> pool6;  // server: the IPv6 pool, when it has one (isolation)
  IpAddress server_address6;      // server: its own inner IPv6 address (pool6's first host)
  std::uint32_t echo_magic = 0;  // our LCP magic number
  // TUN TSO/GRO and UDP GSO/GRO (docs/performance.md): ~5x single-stream throughput. Off by
  // default until the netns tests that count ACK-direction packets (resilience_rekey) or need a
  // slow transfer (resilience_rebind) are adjusted; then this default becomes true.
  bool offload = false;
};

struct DataPlaneStats {
  std::uint64_t rx_datagrams = 0;  // frames read from the UDP socket (GRO trains count each frame)
  std::array<std::uint64_t, forward::kDropCount> drops{};  // by forward::Drop
  std::uint64_t drop(forward::Drop d) const { return drops[static_cast<std::size_t>(d)]; }
};

class DataPlane {
 public:
  using KeyRequest = std::function<void(std::shared_ptr<PeerSession>, Direction, std::uint32_t epoch)>;
  // Called from a data thread when a session's tls_out queue needs draining (must only post).
  using TlsFramesReady = std::function<void(std::shared_ptr<PeerSession>)>;
  enum class TlsFrameKind { dropped, echo, data };

  DataPlane(DataPlaneOptions options, platform::TunDevice tun, platform::UdpSocket udp, KeyRequest on_key_request);
  // Over any datagram port (datagram_port.hpp): the tests' fake network.
  DataPlane(DataPlaneOptions options, platform::TunDevice tun, std::unique_ptr<DatagramPort> udp,
            KeyRequest on_key_request);
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
  struct InnerCapture;
  struct TunWriter;  // the RX thread's GRO state (null on the TLS path: plain writes)
  struct TxPath;     // the TUN-reading side's buffers and lock

  void tx_loop();
  // Reads one batch from the TUN (without waiting), runs it through the core and sends it.
  // True when there is more to read (a full batch, or segments of a super-packet pending).
  bool forward_from_tun(TxPath& tx);
  // After the RX thread wrote to the TUN: forwards what the stack answered at once, unless the
  // TX thread is reading.
  void answer_inline();
  void rx_loop();
  // Sends the first `count` datagrams of `out` (sendmmsg, waiting on EAGAIN).
  void send_batch(platform::UdpBatch<kBatch>& out, std::size_t count);
  // Performs the core's verdict on one received frame. True when it wrote a packet to the TUN.
  bool perform(const forward::Inbound& in, TunWriter* writer);
  void request_keys(const std::shared_ptr<PeerSession>& session);
  void write_inner(TunWriter* writer, std::span<const std::uint8_t> packet);
  void flush_inner(TunWriter& writer);
  // Sends one sealed frame by `via` (UDP to the session's endpoint, or its TLS queue).
  void send_sealed(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame, Transport via);
  void queue_for_tls(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame);
  static void log_move(PeerSession& session);
  void capture(std::span<const std::uint8_t> packet);

  DataPlaneOptions options_;
  forward::ForwardingCore core_;
  platform::TunDevice tun_;
  std::unique_ptr<DatagramPort> udp_;
  KeyRequest on_key_request_;
  TlsFramesReady on_tls_frames_;
  std::size_t slot_size_;
  std::unique_ptr<TxPath> tx_;

  std::atomic<std::uint64_t> rx_datagrams_{0};
  std::unique_ptr<InnerCapture> capture_;  // null unless capture_inner()
  std::atomic<bool> stopping_{false};
  std::thread tx_thread_;
  std::thread rx_thread_;
};

}  // namespace postern::tunnel::daemon
