// The data plane threads (see data_plane.hpp).
#include "tunnel/daemon/data_plane.hpp"

#include "common/log.hpp"
#include "tunnel/data/gre_frame.hpp"
#include "tunnel/data/lcp_echo.hpp"
#include "tunnel/data/mss_clamp.hpp"

#include <poll.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace postern::tunnel::daemon {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPollMs = 200;  // how often an idle thread notices stop()
constexpr std::size_t kGroSlot = 65536;  // one UDP GRO receive: up to 64 KiB of datagrams
constexpr std::size_t kIpv4HeaderMin = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::uint16_t kIpv4TcpOverhead = 40;  // IPv4 + TCP headers, for the MSS clamp

// Waits until fd is readable or the poll interval passed. The data plane's only wait.
bool wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, kPollMs) > 0;
}

std::uint32_t load_be32(const std::uint8_t* p) { return data::load_be32(p); }

// PPP protocol for an IP packet by its version nibble; nullopt for anything else.
std::optional<data::PppProtocol> protocol_of(std::span<const std::uint8_t> packet) {
  if (packet.empty()) return std::nullopt;
  switch (packet[0] >> 4) {
    case 4: return packet.size() >= kIpv4HeaderMin ? std::optional(data::PppProtocol::ipv4) : std::nullopt;
    case 6: return packet.size() >= kIpv6Header ? std::optional(data::PppProtocol::ipv6) : std::nullopt;
    default: return std::nullopt;
  }
}

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

}  // namespace

struct DataPlane::Counters {
  std::atomic<std::uint64_t> rx_datagrams{0}, rx_bad_header{0}, rx_unknown_session{0},
      rx_dropped_by_session{0}, rx_spoofed_source{0}, rx_client_to_client{0}, tx_no_route{0},
      tx_no_endpoint{0}, tx_seal_failed{0}, tx_send_errors{0}, tun_write_errors{0}, tx_tls_queue_full{0},
      rx_bad_inner{0};
};

namespace {
void add_traffic(TrafficTotals& sum, const PeerSession& s) {
  sum.rx_packets += s.rx_packets.load(std::memory_order_relaxed);
  sum.rx_bytes += s.rx_bytes.load(std::memory_order_relaxed);
  sum.tx_packets += s.tx_packets.load(std::memory_order_relaxed);
  sum.tx_bytes += s.tx_bytes.load(std::memory_order_relaxed);
  sum.rekeys += s.rekeys.load(std::memory_order_relaxed);
}
}  // namespace

struct DataPlane::TunWriter {
  platform::TcpCoalescer gro;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(platform::TcpCoalescer::kMaxSize);
};

struct DataPlane::InnerCapture {
  std::mutex mutex;
  platform::PcapWriter writer;
  bool failed = false;  // logged once, then packets are no longer written
};

DataPlane::DataPlane(DataPlaneOptions options, platform::TunDevice tun, platform::UdpSocket udp,
                     KeyRequest on_key_request)
    : options_(options),
      inner_policy_{options.pool_network, options.pool_mask, options.server_address, options.client_to_client},
      tun_(std::move(tun)),
      udp_(std::move(udp)),
      on_key_request_(std::move(on_key_request)),
      slot_size_(std::max<std::size_t>(2048, data::kOverhead + options.mtu + 64)),
      counters_(std::make_unique<Counters>()) {}

DataPlane::~DataPlane() { stop(); }

void DataPlane::start() {
  tun_.set_nonblocking(true);
  if (options_.offload) {
    if (auto ec = tun_.enable_offload()) {
      log::info("tunnel", "", "tun offload unavailable; one packet per read", {{"error", ec.message()}});
    }
  }
  udp_.set_nonblocking(true);
  udp_.set_buffer_sizes(4 << 20, 4 << 20);
  if (options_.offload) {
    udp_.set_gso(true);  // falls back by itself if the route refuses
    if (auto ec = udp_.enable_gro()) log::info("tunnel", "", "udp gro unavailable", {{"error", ec.message()}});
  }
  tx_thread_ = std::thread([this] { tx_loop(); });
  rx_thread_ = std::thread([this] { rx_loop(); });
}

void DataPlane::stop() {
  stopping_ = true;
  if (tx_thread_.joinable()) tx_thread_.join();
  if (rx_thread_.joinable()) rx_thread_.join();
}

void DataPlane::add_session(std::shared_ptr<PeerSession> session) {
  std::unique_lock lock(table_mutex_);
  if (options_.server && session->inner_address) by_address_[session->inner_address] = session;
  by_id_[session->local_session_id] = std::move(session);
}

void DataPlane::remove_session(std::uint32_t local_session_id) {
  std::unique_lock lock(table_mutex_);
  auto it = by_id_.find(local_session_id);
  if (it == by_id_.end()) return;
  auto addr = by_address_.find(it->second->inner_address);
  if (addr != by_address_.end() && addr->second == it->second) by_address_.erase(addr);
  add_traffic(ended_, *it->second);
  by_id_.erase(it);
}

TrafficTotals DataPlane::traffic_totals() const {
  std::shared_lock lock(table_mutex_);
  TrafficTotals out = ended_;
  for (const auto& [id, session] : by_id_) add_traffic(out, *session);
  return out;
}

std::vector<std::shared_ptr<PeerSession>> DataPlane::sessions() const {
  std::shared_lock lock(table_mutex_);
  std::vector<std::shared_ptr<PeerSession>> out;
  out.reserve(by_id_.size());
  for (const auto& [id, session] : by_id_) out.push_back(session);
  return out;
}

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
}

void DataPlane::capture(std::span<const std::uint8_t> packet) {
  std::lock_guard lock(capture_->mutex);
  if (capture_->failed) return;
  // Flushed per packet so the file is readable while the daemon runs (debug only).
  std::error_code ec = capture_->writer.write(packet, std::chrono::system_clock::now());
  if (!ec) ec = capture_->writer.flush();
  if (ec) {
    capture_->failed = true;
    log::error("tunnel", "", "capture_inner write failed; capture stopped", {{"error", ec.message()}});
  }
}

DataPlaneStats DataPlane::stats() const {
  const Counters& c = *counters_;
  return {c.rx_datagrams.load(), c.rx_bad_header.load(), c.rx_unknown_session.load(),
          c.rx_dropped_by_session.load(), c.rx_spoofed_source.load(), c.rx_client_to_client.load(),
          c.tx_no_route.load(), c.tx_no_endpoint.load(), c.tx_seal_failed.load(),
          c.tx_send_errors.load(), c.tun_write_errors.load(), c.tx_tls_queue_full.load(),
          c.rx_bad_inner.load()};
}

std::shared_ptr<PeerSession> DataPlane::route(std::span<const std::uint8_t> packet) const {
  // Caller holds table_mutex_ shared.
  if (!options_.server) return by_id_.empty() ? nullptr : by_id_.begin()->second;
  if (packet.size() < 20 || (packet[0] >> 4) != 4) return nullptr;  // the pool is IPv4 (TUN reads are whole packets)
  auto it = by_address_.find(load_be32(packet.data() + 16));
  return it == by_address_.end() ? nullptr : it->second;
}

void DataPlane::check_wanted_epochs(const std::shared_ptr<PeerSession>& session, Clock::time_point) {
  std::optional<std::uint32_t> tx_want, rx_want;
  {
    std::lock_guard lock(session->tx_mutex);
    tx_want = session->sender.wanted_epoch();
  }
  {
    std::lock_guard lock(session->rx_mutex);
    rx_want = session->receiver.wanted_epoch();
  }
  if (tx_want && session->tx_epoch_requested.exchange(*tx_want) != *tx_want) {
    on_key_request_(session, Direction::send, *tx_want);
  }
  if (rx_want && session->rx_epoch_requested.exchange(*rx_want) != *rx_want) {
    on_key_request_(session, Direction::receive, *rx_want);
  }
}

void DataPlane::tx_loop() {
  Counters& c = *counters_;
  std::vector<std::uint8_t> storage(kBatch * slot_size_);
  std::array<std::span<std::uint8_t>, kBatch> reads;
  std::array<std::size_t, kBatch> sizes{};
  std::array<std::shared_ptr<PeerSession>, kBatch> owners;
  std::array<std::shared_ptr<PeerSession>, kBatch> tls_owners;  // sessions whose frames went to TLS
  platform::UdpBatch<kBatch> out;
  out.attach(storage, slot_size_);
  const std::size_t payload_room = slot_size_ - data::kSealHeadroom - data::kSealTailroom;
  for (std::size_t i = 0; i < kBatch; ++i) {
    reads[i] = std::span(storage.data() + i * slot_size_ + data::kSealHeadroom, payload_room);
  }
  const auto max_mss = static_cast<std::uint16_t>(options_.mtu - kIpv4TcpOverhead);

  bool more = false;  // the last read filled the batch: read again before waiting
  while (!stopping_) {
    // Segments of a super-packet left over from the last batch are invisible to poll().
    if (!more && !tun_.has_pending() && !wait_readable(tun_.fd())) continue;
    std::error_code ec;
    std::size_t n = tun_.read_batch(reads, sizes, ec);
    more = n == kBatch;
    if (n == 0) continue;
    auto now = Clock::now();
    std::size_t ready = 0, tls_ready = 0;
    {
      std::shared_lock table(table_mutex_);
      for (std::size_t i = 0; i < n; ++i) {
        std::span<std::uint8_t> packet = reads[i].first(sizes[i]);
        auto protocol = protocol_of(packet);
        auto session = protocol ? route(packet) : nullptr;
        if (!session) {
          bump(c.tx_no_route);
          continue;
        }
        if (options_.mss_clamp) data::clamp_tcp_mss(packet, max_mss);
        if (capture_) capture(packet);
        platform::Datagram& d = out.datagrams[ready];
        // Seal in place into this read's own slot, then point datagram `ready` at it.
        std::span<std::uint8_t> slot(storage.data() + i * slot_size_, slot_size_);
        data::SealResult sealed;
        {
          std::lock_guard lock(session->tx_mutex);
          sealed = session->sender.seal(*protocol, slot, packet.size(), now);
        }
        if (!sealed.ok()) {
          bump(c.tx_seal_failed);
          bump(session->tx_dropped);
          owners[ready] = session;  // still check epochs below
          continue;
        }
        if (session->transport.load(std::memory_order_relaxed) == Transport::tls) {
          queue_for_tls(session, std::span<const std::uint8_t>(slot.data(), sealed.length));
          bump(session->tx_packets);
          bump(session->tx_bytes, packet.size());
          if (tls_ready == 0 || tls_owners[tls_ready - 1] != session) tls_owners[tls_ready++] = std::move(session);
          continue;
        }
        {
          std::lock_guard lock(session->endpoint_mutex);
          if (session->endpoint_len == 0) {
            bump(c.tx_no_endpoint);
            continue;
          }
          std::memcpy(&d.peer, &session->endpoint, session->endpoint_len);
          d.peer_len = session->endpoint_len;
        }
        d.data = slot.data();
        d.capacity = slot.size();
        d.size = sealed.length;
        bump(session->tx_packets);
        bump(session->tx_bytes, packet.size());
        owners[ready++] = std::move(session);
      }
    }
    std::size_t sent = 0;
    while (sent < ready) {
      std::error_code send_ec;
      std::size_t k = udp_.send_batch(std::span<const platform::Datagram>(out.datagrams.data() + sent, ready - sent),
                                      out.scratch(), send_ec);
      sent += k;
      if (sent < ready && k == 0) {
        if (send_ec == std::errc::resource_unavailable_try_again || send_ec == std::errc::operation_would_block) {
          pollfd p{udp_.fd(), POLLOUT, 0};
          ::poll(&p, 1, kPollMs);
        } else {
          bump(c.tx_send_errors);
          ++sent;  // skip the datagram the kernel refused (e.g. EMSGSIZE) and go on
        }
      }
    }
    for (std::size_t i = 0; i < ready; ++i) {
      if (i == 0 || owners[i] != owners[i - 1]) check_wanted_epochs(owners[i], now);
      owners[i].reset();
    }
    for (std::size_t i = 0; i < tls_ready; ++i) {
      check_wanted_epochs(tls_owners[i], now);
      tls_owners[i].reset();
    }
  }
}

bool DataPlane::inner_allowed(const PeerSession& session, std::span<const std::uint8_t> packet) {
  if (!options_.server) return true;
  switch (data::check_inner_packet(packet, session.inner_address, inner_policy_)) {
    case data::InnerVerdict::allowed: return true;
    case data::InnerVerdict::malformed: bump(counters_->rx_bad_inner); return false;
    case data::InnerVerdict::spoofed_source: bump(counters_->rx_spoofed_source); return false;
    case data::InnerVerdict::client_to_client: bump(counters_->rx_client_to_client); return false;
  }
  return false;
}

void DataPlane::handle_lcp(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> payload,
                           Transport via, std::int64_t now_ns) {
  auto decoded = data::decode_lcp_echo(payload);
  if (!decoded.ok()) return;
  if (decoded.echo.kind == data::LcpEchoKind::reply) {
    // Only a reply that came back over UDP proves the UDP path both ways (transport_monitor.hpp).
    if (via == Transport::udp) session->last_udp_echo_reply_ns.store(now_ns, std::memory_order_relaxed);
    return;
  }
  if (decoded.echo.kind != data::LcpEchoKind::request) return;
  std::array<std::uint8_t, 128> buffer{};
  data::LcpEcho reply = data::make_echo_reply(decoded.echo, options_.echo_magic);
  reply.data = {};  // never reflect peer-chosen bytes back (no amplification)
  std::size_t len = data::encode_lcp_echo(reply, std::span(buffer).subspan(data::kSealHeadroom));
  data::SealResult sealed;
  {
    std::lock_guard lock(session->tx_mutex);
    sealed = session->sender.seal(data::PppProtocol::lcp, buffer, len, Clock::now());
  }
  // Answered by the way it came: a UDP probe from a client on the TLS fallback must be
  // answered over UDP, or it would never learn that UDP works again.
  if (sealed.ok()) send_sealed(session, std::span(buffer.data(), sealed.length), via);
}

void DataPlane::send_echo(const std::shared_ptr<PeerSession>& session, std::uint8_t identifier, Transport via) {
  std::array<std::uint8_t, 128> buffer{};
  data::LcpEcho echo{data::LcpEchoKind::request, identifier, options_.echo_magic, {}};
  std::size_t len = data::encode_lcp_echo(echo, std::span(buffer).subspan(data::kSealHeadroom));
  data::SealResult sealed;
  {
    std::lock_guard lock(session->tx_mutex);
    sealed = session->sender.seal(data::PppProtocol::lcp, buffer, len, Clock::now());
  }
  if (sealed.ok()) send_sealed(session, std::span(buffer.data(), sealed.length), via);
}

void DataPlane::send_sealed(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame,
                            Transport via) {
  if (via == Transport::tls) {
    queue_for_tls(session, frame);
    return;
  }
  platform::Endpoint peer;
  {
    std::lock_guard lock(session->endpoint_mutex);
    auto endpoint = platform::Endpoint::from_sockaddr(session->endpoint, session->endpoint_len);
    if (!endpoint) return;
    peer = *endpoint;
  }
  std::error_code ec;
  udp_.send_to(frame, peer, ec);
}

void DataPlane::queue_for_tls(const std::shared_ptr<PeerSession>& session, std::span<const std::uint8_t> frame) {
  switch (session->tls_out.push(frame)) {
    case FrameQueue::Push::dropped:
      bump(counters_->tx_tls_queue_full);
      bump(session->tx_dropped);
      return;
    case FrameQueue::Push::queued_wake:
      if (on_tls_frames_) on_tls_frames_(session);
      break;
    case FrameQueue::Push::queued:
      break;
  }
  bump(session->tls_tx_frames);
}

void DataPlane::log_move(const PeerSession& session, const platform::Datagram& d) {
  // Rare (NAT rebinding, a new network): the one log line the data path writes per event.
  auto to = platform::Endpoint::from_sockaddr(d.peer, d.peer_len);
  log::info("tunnel", session.log_id, "peer moved",
            {{"identity", session.identity}, {"to", to ? to->to_string() : std::string("?")}});
}

bool DataPlane::set_transport(PeerSession& session, Transport to, std::string_view reason) {
  if (session.transport.exchange(to) == to) return false;
  bump(session.transport_switches);
  log::info("tunnel", session.log_id, "transport switched",
            {{"transport", to_string(to)}, {"reason", reason}, {"identity", session.identity}});
  return true;
}

void DataPlane::deliver(const std::shared_ptr<PeerSession>& session, data::OpenResult& opened, Transport via,
                        std::int64_t now_ns, TunWriter* writer) {
  if (opened.protocol == data::PppProtocol::lcp) {
    handle_lcp(session, opened.payload, via, now_ns);
    return;
  }
  if (!inner_allowed(*session, opened.payload)) return;
  if (options_.mss_clamp) {
    data::clamp_tcp_mss(opened.payload, static_cast<std::uint16_t>(options_.mtu - kIpv4TcpOverhead));
  }
  if (capture_) capture(opened.payload);
  write_inner(writer, opened.payload);
}

void DataPlane::write_inner(TunWriter* writer, std::span<const std::uint8_t> packet) {
  if (writer != nullptr) {
    if (writer->gro.append(packet)) return;
    flush_inner(*writer);  // keeps the order: what was pending goes out before this packet
    if (writer->gro.start(writer->buffer, packet)) return;
  }
  std::error_code write_ec;
  tun_.write(packet, write_ec);
  if (write_ec) bump(counters_->tun_write_errors);
}

void DataPlane::flush_inner(TunWriter& writer) {
  if (!writer.gro.active()) return;
  platform::VnetHeader header;
  auto packet = writer.gro.finish(header);
  std::error_code write_ec;
  tun_.write_gso(header, packet, write_ec);
  if (write_ec) bump(counters_->tun_write_errors);
}

DataPlane::TlsFrameKind DataPlane::receive_over_tls(const std::shared_ptr<PeerSession>& session,
                                                    std::span<std::uint8_t> frame) {
  auto header = data::decode_gre_frame(frame);
  if (!header.ok() || data::session_id_of(header.frame.key) != session->local_session_id) {
    bump(counters_->rx_bad_header);
    return TlsFrameKind::dropped;
  }
  auto now = Clock::now();
  data::OpenResult opened;
  {
    std::lock_guard lock(session->rx_mutex);
    opened = session->receiver.open(frame, now);
  }
  if (!opened.ok()) {
    bump(counters_->rx_dropped_by_session);
    bump(session->rx_dropped);
    return TlsFrameKind::dropped;
  }
  auto now_ns = now.time_since_epoch().count();
  session->last_rx_ns.store(now_ns, std::memory_order_relaxed);
  bump(session->tls_rx_frames);
  bump(session->rx_packets);
  bump(session->rx_bytes, opened.payload.size());
  bool echo = opened.protocol == data::PppProtocol::lcp;
  deliver(session, opened, Transport::tls, now_ns);
  check_wanted_epochs(session, now);
  return echo ? TlsFrameKind::echo : TlsFrameKind::data;
}

// One received data-channel frame (a whole datagram, or one cut from a UDP GRO buffer).
// Returns the session that authenticated it, or null.
PeerSession* DataPlane::receive_frame(std::span<std::uint8_t> payload, const platform::Datagram& d,
                                      RxBatch& batch) {
  Counters& c = *counters_;
  auto frame = data::decode_gre_frame(payload);
  if (!frame.ok() || d.truncated) {
    bump(c.rx_bad_header);
    return nullptr;
  }
  auto it = by_id_.find(data::session_id_of(frame.frame.key));
  if (it == by_id_.end()) {
    bump(c.rx_unknown_session);
    return nullptr;
  }
  const std::shared_ptr<PeerSession>& owner = it->second;
  PeerSession& session = *owner;
  data::OpenResult opened;
  {
    std::lock_guard lock(session.rx_mutex);
    opened = session.receiver.open(payload, batch.now);
  }
  if (!opened.ok()) {
    bump(c.rx_dropped_by_session);
    bump(session.rx_dropped);
    return nullptr;
  }
  // Authenticated from here on: follow the peer to its current address (roaming).
  session.last_rx_ns.store(batch.now_ns, std::memory_order_relaxed);
  session.last_udp_rx_ns.store(batch.now_ns, std::memory_order_relaxed);
  bool moved = false;
  {
    std::lock_guard lock(session.endpoint_mutex);
    if (session.endpoint_len != d.peer_len || std::memcmp(&session.endpoint, &d.peer, d.peer_len) != 0) {
      moved = session.endpoint_len != 0;
      std::memcpy(&session.endpoint, &d.peer, d.peer_len);
      session.endpoint_len = d.peer_len;
    }
  }
  if (moved && options_.server) log_move(session, d);
  bump(session.rx_packets);
  bump(session.rx_bytes, opened.payload.size());
  // A GRO batch can hold more frames than owner slots; a session left out is checked next time.
  if (batch.used < kBatch && (batch.used == 0 || batch.owners[batch.used - 1] != owner)) {
    batch.owners[batch.used++] = owner;
  }
  if (options_.server && opened.protocol != data::PppProtocol::lcp &&
      session.transport.load(std::memory_order_relaxed) == Transport::tls) {
    set_transport(session, Transport::udp, "client sends over UDP again");
  }
  deliver(owner, opened, Transport::udp, batch.now_ns, batch.writer);
  return &session;
}

void DataPlane::rx_loop() {
  Counters& c = *counters_;
  // With UDP GRO one receive buffer may hold a whole train of datagrams (up to 64 KiB).
  const std::size_t rx_slot = udp_.gro_enabled() ? kGroSlot : slot_size_;
  std::vector<std::uint8_t> storage(kBatch * rx_slot);
  platform::UdpBatch<kBatch> in;
  in.attach(storage, rx_slot);
  RxBatch batch;
  std::unique_ptr<TunWriter> gro;  // GRO only when the TUN takes virtio headers with GSO
  if (tun_.offload_enabled()) gro = std::make_unique<TunWriter>();
  batch.writer = gro.get();

  bool more = false;  // the last receive filled the batch: receive again before waiting
  while (!stopping_) {
    if (!more && !wait_readable(udp_.fd())) continue;
    std::error_code ec;
    std::size_t n = udp_.recv_batch(in, ec);
    more = n == kBatch;
    if (n == 0) continue;
    batch.now = Clock::now();
    batch.now_ns = batch.now.time_since_epoch().count();
    batch.used = 0;
    std::size_t frames = 0;
    {
      std::shared_lock table(table_mutex_);
      for (std::size_t i = 0; i < n; ++i) {
        platform::Datagram& d = in.datagrams[i];
        // A GRO buffer is several datagrams back to back, segment_size bytes each (udp(7)).
        const std::size_t step = d.segment_size != 0 ? d.segment_size : d.size;
        std::size_t offset = 0;
        do {
          const std::size_t length = std::min(step, d.size - offset);
          receive_frame(d.payload().subspan(offset, length), d, batch);
          offset += length;
          ++frames;
        } while (offset < d.size);
      }
    }
    bump(c.rx_datagrams, frames);
    if (gro) flush_inner(*gro);
    for (std::size_t i = 0; i < batch.used; ++i) {
      check_wanted_epochs(batch.owners[i], batch.now);
      batch.owners[i].reset();
    }
  }
}

}  // namespace postern::tunnel::daemon
