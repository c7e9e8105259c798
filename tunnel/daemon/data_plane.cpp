// The data plane threads (see data_plane.hpp): loops that move batches between the devices
// and the forwarding core, and perform the actions it returns. No per-packet rule lives here.
#include "tunnel/daemon/data_plane.hpp"

#include "common/log.hpp"
#include "platform/readiness.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace postern::tunnel::daemon {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPoll(200);  // how often an idle thread notices stop()
constexpr std::size_t kGroSlot = 65536;  // one UDP GRO receive: up to 64 KiB of datagrams

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

forward::ForwardingOptions forwarding_options(const DataPlaneOptions& o) {
  forward::ForwardingOptions f;
  f.server = o.server;
  f.mtu = o.mtu;
  f.mss_clamp = o.mss_clamp;
  // The per-packet rules compare host-order IPv4 keys and 16-octet IPv6 keys (no allocation,
  // one or two ANDs per check).
  f.inner = {o.pool.network().address.to_v4_uint(), o.pool.netmask().to_v4_uint(), o.server_address.to_v4_uint(),
             o.client_to_client};
  if (o.pool6) {
    f.inner.has_pool6 = true;
    f.inner.pool6_network = data::Ipv6Key::of(o.pool6->network().address);
    f.inner.pool6_mask = data::Ipv6Key::of(o.pool6->netmask());
    f.inner.server_address6 = data::Ipv6Key::of(o.server_address6);
  }
  f.echo_magic = o.echo_magic;
  return f;
}

// Sessions a batch touched, each once in a row, so their epochs are checked after the batch.
template <std::size_t N>
struct Touched {
  std::array<std::shared_ptr<PeerSession>, N> sessions;
  std::size_t used = 0;
  void add(const std::shared_ptr<PeerSession>& s) {
    if (used < N && (used == 0 || sessions[used - 1] != s)) sessions[used++] = s;
  }
};

}  // namespace

struct DataPlane::TunWriter {
  explicit TunWriter(bool udp) : gro(udp) {}
  platform::GroCoalescer gro;  // TCP, and UDP when the TUN took USO
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(platform::GroCoalescer::kMaxSize);
};

// The TUN-reading side's buffers. One thread at a time reads the TUN and forwards what it read:
// the TX thread, or the RX thread right after it wrote to the TUN (answer_inline()).
struct DataPlane::TxPath {
  std::mutex mutex;
  std::vector<std::uint8_t> storage;  // kBatch slots of slot_size_: read, sealed and sent in place
  std::array<std::span<std::uint8_t>, kBatch> reads;
  std::array<std::size_t, kBatch> sizes{};
  Touched<kBatch> touched;
  platform::UdpBatch<kBatch> out;
  platform::Wakeup wakeup;  // the RX thread left a full batch or pending segments to the TX thread

  explicit TxPath(std::size_t slot_size) : storage(kBatch * slot_size) {
    out.attach(storage, slot_size);
    const std::size_t payload_room = slot_size - data::kSealHeadroom - data::kSealTailroom;
    for (std::size_t i = 0; i < kBatch; ++i) {
      reads[i] = std::span(storage.data() + i * slot_size + data::kSealHeadroom, payload_room);
    }
  }
};

struct DataPlane::InnerCapture {
  std::mutex mutex;
  platform::PcapWriter writer;
  bool failed = false;  // logged once, then packets are no longer written
};

DataPlane::DataPlane(DataPlaneOptions options, platform::TunDevice tun, platform::UdpSocket udp,
                     KeyRequest on_key_request)
    : DataPlane(options, std::move(tun), std::make_unique<UdpPort>(std::move(udp)), std::move(on_key_request)) {}

DataPlane::DataPlane(DataPlaneOptions options, platform::TunDevice tun, std::unique_ptr<DatagramPort> udp,
                     KeyRequest on_key_request)
    : options_(options),
      core_(forwarding_options(options)),
      tun_(std::move(tun)),
      udp_(std::move(udp)),
      on_key_request_(std::move(on_key_request)),
      slot_size_(std::max<std::size_t>(2048, data::kOverhead + options.mtu + 64)),
      tx_(std::make_unique<TxPath>(slot_size_)) {}

DataPlane::~DataPlane() { stop(); }

void DataPlane::start() {
  tun_.set_nonblocking(true);
  if (options_.offload) {
    if (auto ec = tun_.enable_offload()) {
      log::info("tunnel", "", "tun_offload_unavailable",
                {{"error", ec.message()}, {"fallback", "one packet per read"}});
    } else if (!tun_.udp_offload_enabled()) {
      log::info("tunnel", "", "tun_udp_offload_unavailable",
                {{"kernel", "no TUN_F_USO (Linux < 6.2)"}, {"fallback", "one inner UDP datagram per TUN write"}});
    }
  }
  udp_->prepare(options_.offload);
  tx_thread_ = std::thread([this] { tx_loop(); });
  rx_thread_ = std::thread([this] { rx_loop(); });
}

void DataPlane::stop() {
  stopping_ = true;
  if (tx_thread_.joinable()) tx_thread_.join();
  if (rx_thread_.joinable()) rx_thread_.join();
}

void DataPlane::add_session(std::shared_ptr<PeerSession> session) { core_.add_session(std::move(session)); }
void DataPlane::remove_session(std::uint32_t local_session_id) { core_.remove_session(local_session_id); }
TrafficTotals DataPlane::traffic_totals() const { return core_.traffic_totals(); }
std::vector<std::shared_ptr<PeerSession>> DataPlane::sessions() const { return core_.sessions(); }

void DataPlane::install_key(PeerSession& session, Direction direction, std::uint32_t epoch,
                            const SecretBytes& key) {
  auto now = Clock::now();
  // Epochs first and first + 1 come with the session; epoch n + 1 is installed as soon as n
  // becomes current, so a send install of first + 2 or later marks a rekey (as `rekeys` counts).
  if (epoch >= data::kFirstEpoch + 2 && direction == Direction::send) {
    session.last_rekey_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  if (direction == Direction::send) {
    std::lock_guard lock(session.tx_mutex);
    session.sender.install_epoch(epoch, key.span(), now);
  } else {
    std::lock_guard lock(session.rx_mutex);
    session.receiver.install_epoch(epoch, key.span(), now);
  }
}

void DataPlane::capture_inner(platform::PcapWriter writer) {
  capture_ = std::make_unique<InnerCapture>();
  capture_->writer = std::move(writer);
  core_.set_inner_tap([this](std::span<const std::uint8_t> packet) { capture(packet); });
}

void DataPlane::capture(std::span<const std::uint8_t> packet) {
  std::lock_guard lock(capture_->mutex);
  if (capture_->failed) return;
  // Flushed per packet so the file is readable while the daemon runs (debug only).
  std::error_code ec = capture_->writer.write(packet, std::chrono::system_clock::now());
  if (!ec) ec = capture_->writer.flush();
  if (ec) {
    capture_->failed = true;
    log::error("tunnel", "", "capture_write_failed", {{"error", ec.message()}, {"effect", "capture stopped"}});
  }
}

DataPlaneStats DataPlane::stats() const {
  DataPlaneStats out;
  out.rx_datagrams = rx_datagrams_.load(std::memory_order_relaxed);
  out.drops = core_.drops().snapshot();
  return out;
}

void DataPlane::request_keys(const std::shared_ptr<PeerSession>& session) {
  auto wants = forward::ForwardingCore::take_key_wants(*session);
  if (wants.send) on_key_request_(session, Direction::send, *wants.send);
  if (wants.receive) on_key_request_(session, Direction::receive, *wants.receive);
}

bool DataPlane::forward_from_tun(TxPath& tx) {
  std::error_code ec;
  std::size_t n = tun_.read_batch(tx.reads, tx.sizes, ec);
  if (n == 0) return tun_.has_pending();
  const auto now = Clock::now();
  std::size_t ready = 0;
  {
    auto table = core_.lock_table();
    for (std::size_t i = 0; i < n; ++i) {
      // Sealed in place in this read's own slot; datagram `ready` then points at it.
      std::span<std::uint8_t> slot(tx.storage.data() + i * slot_size_, slot_size_);
      platform::Datagram& d = tx.out.datagrams[ready];
      forward::Outbound verdict = core_.outbound(slot, tx.sizes[i], now, d.peer, d.peer_len);
      if (verdict.session != nullptr) tx.touched.add(*verdict.session);
      switch (verdict.action) {
        case forward::Outbound::Action::drop: break;
        case forward::Outbound::Action::send_tls: queue_for_tls(*verdict.session, slot.first(verdict.length)); break;
        case forward::Outbound::Action::send_udp:
          d.data = slot.data();
          d.capacity = slot.size();
          d.size = verdict.length;
          ++ready;
          break;
      }
    }
  }
  send_batch(tx.out, ready);
  for (std::size_t i = 0; i < tx.touched.used; ++i) {
    request_keys(tx.touched.sessions[i]);
    tx.touched.sessions[i].reset();
  }
  tx.touched.used = 0;
  // A full batch may have more behind it; segments of a super-packet left over are invisible
  // to poll().
  return n == kBatch || tun_.has_pending();
}

void DataPlane::tx_loop() {
  bool more = false;  // read again before waiting
  while (!stopping_) {
    if (!more && !platform::wait_readable(tun_.fd(), kPoll, &tx_->wakeup)) continue;
    std::lock_guard lock(tx_->mutex);
    more = forward_from_tun(*tx_);
  }
}

void DataPlane::answer_inline() {
  // Writing to the TUN ran the kernel's receive path in this thread: whatever the stack
  // answered at once (an ICMP echo reply, a TCP ACK, a local server's SYN-ACK) is already in
  // the TUN's queue. Sending it from here saves the TX thread's wake-up on the round trip.
  // If the TX thread is busy it will find it itself.
  std::unique_lock lock(tx_->mutex, std::try_to_lock);
  if (lock.owns_lock() && forward_from_tun(*tx_)) tx_->wakeup.signal();  // left work for it
}

void DataPlane::send_batch(platform::UdpBatch<kBatch>& out, std::size_t count) {
  std::size_t sent = 0;
  while (sent < count) {
    std::error_code send_ec;
    std::size_t k = udp_->send_batch(std::span<const platform::Datagram>(out.datagrams.data() + sent, count - sent),
                                     out.scratch(), send_ec);
    sent += k;
    if (sent < count && k == 0) {
      if (send_ec == std::errc::resource_unavailable_try_again || send_ec == std::errc::operation_would_block) {
        platform::wait_writable(udp_->fd(), kPoll);
      } else {
        core_.count(forward::Drop::tx_send_error);
        ++sent;  // skip the datagram the kernel refused (e.g. EMSGSIZE) and go on
      }
    }
  }
}

void DataPlane::send_echo(const std::shared_ptr<PeerSession>& session, std::uint8_t identifier, Transport via) {
  std::array<std::uint8_t, forward::ForwardingCore::kEchoFrameMax> buffer{};
  std::size_t len = core_.seal_echo_request(*session, identifier, Clock::now(), buffer);
  if (len != 0) send_sealed(session, std::span(buffer.data(), len), via);
}

void DataPlane::send_sealed(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame,
                            Transport via) {
  if (via == Transport::tls) {
    queue_for_tls(session, frame);
    return;
  }
  // A batch of one; no control slots, so never GSO.
  platform::Datagram d;
  if (!forward::ForwardingCore::endpoint_of(*session, d.peer, d.peer_len)) {
    core_.count(forward::Drop::tx_no_endpoint);
    return;
  }
  d.data = const_cast<std::uint8_t*>(frame.data());  // only read on send
  d.size = frame.size();
  mmsghdr header{};
  iovec iov{};
  std::error_code ec;
  if (udp_->send_batch(std::span(&d, 1), platform::BatchScratch{std::span(&header, 1), std::span(&iov, 1)}, ec) != 1) {
    core_.count(forward::Drop::tx_send_error);
  }
}

void DataPlane::queue_for_tls(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame) {
  switch (session->tls_out.push(frame)) {
    case forward::FrameQueue::Push::dropped:
      core_.count(forward::Drop::tx_tls_queue_full);
      bump(session->tx_dropped);
      return;
    case forward::FrameQueue::Push::queued_wake:
      if (on_tls_frames_) on_tls_frames_(session);
      break;
    case forward::FrameQueue::Push::queued:
      break;
  }
  bump(session->tls_tx_frames);
}

void DataPlane::log_move(PeerSession& session) {
  // Rare (NAT rebinding, a new network): the one log line the data path writes per event.
  std::string to = "?";
  {
    std::lock_guard lock(session.endpoint_mutex);
    if (auto e = IpEndpoint::from_sockaddr(session.endpoint, session.endpoint_len)) to = e->to_string();
  }
  log::info("tunnel", session.log_id, "peer_moved", {{"identity", session.identity}, {"to", to}});
}

bool DataPlane::set_transport(PeerSession& session, Transport to, std::string_view reason) {
  if (!forward::ForwardingCore::switch_transport(session, to)) return false;
  log::info("tunnel", session.log_id, "transport_switched",
            {{"transport", to_string(to)}, {"reason", reason}, {"identity", session.identity}});
  return true;
}

bool DataPlane::perform(const forward::Inbound& in, TunWriter* writer) {
  if (in.session == nullptr) return false;  // dropped before authentication; counted by the core
  const std::shared_ptr<PeerSession>& session = *in.session;
  if (in.peer_moved && options_.server) log_move(*session);
  if (in.switched_to) {
    log::info("tunnel", session->log_id, "transport_switched",
              {{"transport", to_string(*in.switched_to)},
               {"reason", *in.switched_to == Transport::tls ? "client sends over TLS (UDP fallback)"
                                                              : "client sends over UDP again"},
               {"identity", session->identity}});
  }
  switch (in.action) {
    case forward::Inbound::Action::deliver:
      if (capture_) capture(in.packet);
      write_inner(writer, in.packet);
      return true;
    case forward::Inbound::Action::reply: send_sealed(session, in.packet, in.via); break;
    case forward::Inbound::Action::drop:
    case forward::Inbound::Action::none: break;
  }
  return false;
}

void DataPlane::write_inner(TunWriter* writer, std::span<const std::uint8_t> packet) {
  if (writer != nullptr) {
    if (writer->gro.append(packet)) return;
    flush_inner(*writer);  // keeps the order: what was pending goes out before this packet
    if (writer->gro.start(writer->buffer, packet)) return;
  }
  std::error_code write_ec;
  tun_.write(packet, write_ec);
  if (write_ec) core_.count(forward::Drop::tun_write_error);
}

void DataPlane::flush_inner(TunWriter& writer) {
  if (!writer.gro.active()) return;
  platform::VnetHeader header;
  auto packet = writer.gro.finish(header);
  std::error_code write_ec;
  tun_.write_gso(header, packet, write_ec);
  if (write_ec) core_.count(forward::Drop::tun_write_error);
}

DataPlane::TlsFrameKind DataPlane::receive_over_tls(const std::shared_ptr<PeerSession>& session,
                                                    std::span<std::uint8_t> frame) {
  std::array<std::uint8_t, forward::ForwardingCore::kEchoFrameMax> reply{};
  forward::Inbound in = core_.inbound_tls(session, frame, Clock::now(), reply);
  perform(in, nullptr);
  if (in.session == nullptr) return TlsFrameKind::dropped;
  request_keys(session);
  const bool echo = in.action == forward::Inbound::Action::reply || in.action == forward::Inbound::Action::none;
  return echo ? TlsFrameKind::echo : TlsFrameKind::data;
}

void DataPlane::rx_loop() {
  // With UDP GRO one receive buffer may hold a whole train of datagrams (up to 64 KiB).
  const std::size_t rx_slot = udp_->gro_enabled() ? kGroSlot : slot_size_;
  std::vector<std::uint8_t> storage(kBatch * rx_slot);
  platform::UdpBatch<kBatch> in;
  in.attach(storage, rx_slot);
  std::array<std::uint8_t, forward::ForwardingCore::kEchoFrameMax> reply{};
  Touched<kBatch> touched;  // a GRO batch may touch more; a session left out is checked next time
  std::unique_ptr<TunWriter> gro;  // GRO only when the TUN takes virtio headers with GSO
  if (tun_.offload_enabled()) gro = std::make_unique<TunWriter>(tun_.udp_offload_enabled());

  bool more = false;  // the last receive filled the batch: receive again before waiting
  while (!stopping_) {
    if (!more && !platform::wait_readable(udp_->fd(), kPoll)) continue;
    std::error_code ec;
    std::size_t n = udp_->recv_batch(in.datagrams, in.scratch(), ec);
    more = n == kBatch;
    if (n == 0) continue;
    const auto now = Clock::now();
    std::size_t frames = 0;
    bool delivered = false;
    {
      auto table = core_.lock_table();
      for (std::size_t i = 0; i < n; ++i) {
        platform::Datagram& d = in.datagrams[i];
        if (d.truncated) {
          core_.count(forward::Drop::rx_bad_header);
          ++frames;
          continue;
        }
        // A GRO buffer is several datagrams back to back, segment_size bytes each (udp(7)).
        const std::size_t step = d.segment_size != 0 ? d.segment_size : d.size;
        std::size_t offset = 0;
        do {
          const std::size_t length = std::min(step, d.size - offset);
          forward::Inbound verdict = core_.inbound_udp(d.payload().subspan(offset, length), d.peer, d.peer_len, now, reply);
          if (verdict.session != nullptr) touched.add(*verdict.session);
          delivered |= perform(verdict, gro.get());
          offset += length;
          ++frames;
        } while (offset < d.size);
      }
    }
    bump(rx_datagrams_, frames);
    if (gro) flush_inner(*gro);
    for (std::size_t i = 0; i < touched.used; ++i) {
      request_keys(touched.sessions[i]);
      touched.sessions[i].reset();
    }
    touched.used = 0;
    if (delivered) answer_inline();
  }
}

}  // namespace postern::tunnel::daemon
