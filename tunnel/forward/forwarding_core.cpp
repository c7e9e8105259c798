// The forwarding core (see forwarding_core.hpp).
#include "tunnel/forward/forwarding_core.hpp"

#include "tunnel/data/gre_frame.hpp"
#include "tunnel/data/lcp_echo.hpp"
#include "tunnel/data/mss_clamp.hpp"

#include <cstring>
#include <mutex>

namespace postern::tunnel::forward {
namespace {

constexpr std::size_t kIpv4HeaderMin = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::uint16_t kIpv4TcpOverhead = 40;  // IPv4 + TCP headers, for the MSS clamp
constexpr std::uint16_t kIpv6TcpOverhead = 60;  // IPv6 + TCP headers

// IPv6 meant for the link the TUN is (RFC 4291 2.4, 2.7): to link-local unicast or to multicast
// of interface- or link-local scope, or from a link-local or the unspecified address (router
// solicitations, MLD reports, DAD). Nothing beyond a point-to-point TUN answers them, and the
// server would only count them as spoofed sources.
bool is_link_scope(std::span<const std::uint8_t> packet) {
  const std::uint8_t* src = packet.data() + 8;
  const std::uint8_t* dst = packet.data() + 24;
  auto link_local = [](const std::uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; };
  auto unspecified = [](const std::uint8_t* a) {
    for (int i = 0; i < 16; ++i) {
      if (a[i] != 0) return false;
    }
    return true;
  };
  const bool link_multicast = dst[0] == 0xff && (dst[1] & 0x0f) <= 2;
  return link_multicast || link_local(dst) || link_local(src) || unspecified(src);
}

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

std::int64_t ns_of(TimePoint t) { return t.time_since_epoch().count(); }

void add_traffic(TrafficTotals& sum, const PeerSession& s) {
  sum.rx_packets += s.rx_packets.load(std::memory_order_relaxed);
  sum.rx_bytes += s.rx_bytes.load(std::memory_order_relaxed);
  sum.tx_packets += s.tx_packets.load(std::memory_order_relaxed);
  sum.tx_bytes += s.tx_bytes.load(std::memory_order_relaxed);
  sum.rekeys += s.rekeys.load(std::memory_order_relaxed);
}

data::SealResult seal(PeerSession& session, data::PppProtocol protocol, std::span<std::uint8_t> buffer,
                      std::size_t length, TimePoint now) {
  std::lock_guard lock(session.tx_mutex);
  return session.sender.seal(protocol, buffer, length, now);
}

}  // namespace

ForwardingCore::ForwardingCore(ForwardingOptions options)
    : options_(options),
      max_mss_(static_cast<std::uint16_t>(options.mtu - kIpv4TcpOverhead)),
      max_mss6_(static_cast<std::uint16_t>(options.mtu - kIpv6TcpOverhead)) {}

void ForwardingCore::add_session(SessionRef session) {
  std::unique_lock lock(table_mutex_);
  if (options_.server && session->inner_address) by_address_[session->inner_address] = session;
  if (options_.server && session->inner_address6) by_address6_[*session->inner_address6] = session;
  by_id_[session->local_session_id] = std::move(session);
}

void ForwardingCore::remove_session(std::uint32_t local_session_id) {
  std::unique_lock lock(table_mutex_);
  auto it = by_id_.find(local_session_id);
  if (it == by_id_.end()) return;
  auto addr = by_address_.find(it->second->inner_address);
  if (addr != by_address_.end() && addr->second == it->second) by_address_.erase(addr);
  if (it->second->inner_address6) {
    auto addr6 = by_address6_.find(*it->second->inner_address6);
    if (addr6 != by_address6_.end() && addr6->second == it->second) by_address6_.erase(addr6);
  }
  add_traffic(ended_, *it->second);
  by_id_.erase(it);
}

std::vector<SessionRef> ForwardingCore::sessions() const {
  std::shared_lock lock(table_mutex_);
  std::vector<SessionRef> out;
  out.reserve(by_id_.size());
  for (const auto& [id, session] : by_id_) out.push_back(session);
  return out;
}

TrafficTotals ForwardingCore::traffic_totals() const {
  std::shared_lock lock(table_mutex_);
  TrafficTotals out = ended_;
  for (const auto& [id, session] : by_id_) add_traffic(out, *session);
  return out;
}

const SessionRef* ForwardingCore::route(std::span<const std::uint8_t> packet) const {
  if (!options_.server) return by_id_.empty() ? nullptr : &by_id_.begin()->second;
  // protocol_of() has checked the version and that the header is complete.
  if ((packet[0] >> 4) == 6) {
    auto it = by_address6_.find(data::Ipv6Key::load(packet.data() + 24));
    return it == by_address6_.end() ? nullptr : &it->second;
  }
  auto it = by_address_.find(data::load_be32(packet.data() + 16));
  return it == by_address_.end() ? nullptr : &it->second;
}

Outbound ForwardingCore::outbound(std::span<std::uint8_t> slot, std::size_t packet_len, TimePoint now,
                                  sockaddr_storage& to, socklen_t& to_len) {
  Outbound out;
  std::span<std::uint8_t> packet = slot.subspan(data::kSealHeadroom, packet_len);
  auto protocol = protocol_of(packet);
  if (!protocol) {
    out.reason = Drop::tx_not_ip;
    drops_.bump(out.reason);
    return out;
  }
  if (*protocol == data::PppProtocol::ipv6 && is_link_scope(packet)) {
    out.reason = Drop::tx_link_scope;
    drops_.bump(out.reason);
    return out;
  }
  out.session = route(packet);
  if (out.session == nullptr) {
    out.reason = Drop::tx_no_route;
    drops_.bump(out.reason);
    return out;
  }
  PeerSession& session = **out.session;
  if (options_.mss_clamp) data::clamp_tcp_mss(packet, max_mss_of(packet));
  if (tap_) tap_(packet);
  const Transport transport = session.transport.load(std::memory_order_relaxed);
  if (transport == Transport::udp && !endpoint_of(session, to, to_len)) {
    out.reason = Drop::tx_no_endpoint;  // before sealing: no counter spent on a frame nobody gets
    drops_.bump(out.reason);
    bump(session.tx_dropped);
    return out;
  }
  data::SealResult sealed = seal(session, *protocol, slot, packet_len, now);
  if (!sealed.ok()) {
    out.reason = Drop::tx_seal_failed;
    drops_.bump(out.reason);
    bump(session.tx_dropped);
    return out;
  }
  bump(session.tx_packets);
  bump(session.tx_bytes, packet_len);
  out.action = transport == Transport::tls ? Outbound::Action::send_tls : Outbound::Action::send_udp;
  out.length = sealed.length;
  return out;
}

Inbound ForwardingCore::drop(Drop reason, PeerSession* session) {
  drops_.bump(reason);
  if (session != nullptr) bump(session->rx_dropped);
  Inbound in;
  in.reason = reason;
  return in;
}

Inbound ForwardingCore::inbound_udp(std::span<std::uint8_t> frame, const sockaddr_storage& from, socklen_t from_len,
                                    TimePoint now, std::span<std::uint8_t> reply) {
  auto header = data::decode_gre_frame(frame);
  if (!header.ok()) return drop(Drop::rx_bad_header);
  auto it = by_id_.find(data::session_id_of(header.frame.key));
  if (it == by_id_.end()) return drop(Drop::rx_unknown_session);
  const SessionRef& owner = it->second;
  PeerSession& session = *owner;
  Opened opened_frame = open_frame(session, frame, Transport::udp, now);
  data::OpenResult& result = opened_frame.result;
  if (!result.ok()) return drop(drop_of(result.status), &session);
  // Authenticated from here on. Roaming: the endpoint follows the peer to where its
  // authenticated datagrams come from now (a NAT rebinding or a new network alike).
  session.last_udp_rx_ns.store(ns_of(now), std::memory_order_relaxed);
  bool moved = false;
  {
    std::lock_guard lock(session.endpoint_mutex);
    if (session.endpoint_len != from_len || std::memcmp(&session.endpoint, &from, from_len) != 0) {
      moved = session.endpoint_len != 0;
      std::memcpy(&session.endpoint, &from, from_len);
      session.endpoint_len = from_len;
    }
  }
  Inbound in = opened(owner, result, Transport::udp, now, reply);
  in.peer_moved = moved;
  in.switched_to = opened_frame.switched;
  return in;
}

Inbound ForwardingCore::inbound_tls(const SessionRef& session, std::span<std::uint8_t> frame, TimePoint now,
                                    std::span<std::uint8_t> reply) {
  auto header = data::decode_gre_frame(frame);
  // A TLS connection speaks for its own session only: another session's key is not ours to open.
  if (!header.ok() || data::session_id_of(header.frame.key) != session->local_session_id) {
    return drop(Drop::rx_bad_header);
  }
  Opened opened_frame = open_frame(*session, frame, Transport::tls, now);
  data::OpenResult& result = opened_frame.result;
  if (!result.ok()) return drop(drop_of(result.status), session.get());
  bump(session->tls_rx_frames);
  Inbound in = opened(session, result, Transport::tls, now, reply);
  in.switched_to = opened_frame.switched;
  return in;
}

// Opens `frame` and, on the server, decides under the same lock which path the session answers
// on. The server follows its client, but only the client's newest data frame says which path the
// client uses now: the client seals every frame with one counter and picks the transport when it
// seals, so a frame with a higher counter than all before it was sent after the client's latest
// choice. Frames of the path the client just left (its TLS queue draining after it went back to
// UDP, UDP datagrams still in flight when it fell back) are older, so they are delivered but move
// nothing: one switch per change of the client's mind, however the two paths interleave. Echoes
// never move it: they may be probes of the other path. Under rx_mutex, so the TLS thread and the
// RX thread decide in counter order.
ForwardingCore::Opened ForwardingCore::open_frame(PeerSession& session, std::span<std::uint8_t> frame, Transport via,
                                                  TimePoint now) {
  Opened out;
  std::lock_guard lock(session.rx_mutex);
  out.result = session.receiver.open(frame, now);
  if (!out.result.ok() || out.result.protocol == data::PppProtocol::lcp) return out;
  if (out.result.counter < session.newest_data_frame) return out;  // older than one already seen
  session.newest_data_frame = out.result.counter + 1;
  if (options_.server && switch_transport(session, via)) out.switched = via;
  return out;
}

// What happens to an authenticated frame, whichever way it came.
Inbound ForwardingCore::opened(const SessionRef& owner, data::OpenResult& result, Transport via, TimePoint now,
                               std::span<std::uint8_t> reply) {
  PeerSession& session = *owner;
  // Liveness follows the data: any authenticated frame proves the peer alive.
  session.last_rx_ns.store(ns_of(now), std::memory_order_relaxed);
  bump(session.rx_packets);
  bump(session.rx_bytes, result.payload.size());
  const bool lcp = result.protocol == data::PppProtocol::lcp;
  Inbound in;
  if (lcp) {
    in = answer_lcp(owner, result.payload, via, now, reply);
  } else if (auto refused = inner_refused(session, result.payload)) {
    in = drop(*refused);  // policy, not loss: counted by reason, not in the session's rx_dropped
  } else {
    if (options_.mss_clamp) data::clamp_tcp_mss(result.payload, max_mss_of(result.payload));
    in.action = Inbound::Action::deliver;
    in.packet = result.payload;
  }
  in.session = &owner;
  return in;
}

// The server's rules for an authenticated inner packet (inner_check.hpp); the client takes what
// its server sends.
std::optional<Drop> ForwardingCore::inner_refused(const PeerSession& session, std::span<const std::uint8_t> packet) const {
  if (!options_.server) return std::nullopt;
  switch (data::check_inner_packet(packet, session.inner_address, session.inner_address6, options_.inner)) {
    case data::InnerVerdict::allowed: return std::nullopt;
    case data::InnerVerdict::malformed: return Drop::rx_bad_inner;
    case data::InnerVerdict::spoofed_source: return Drop::rx_spoofed_source;
    case data::InnerVerdict::client_to_client: return Drop::rx_client_to_client;
  }
  return Drop::rx_bad_inner;
}

Inbound ForwardingCore::answer_lcp(const SessionRef& owner, std::span<const std::uint8_t> payload, Transport via,
                                   TimePoint now, std::span<std::uint8_t> reply) {
  PeerSession& session = *owner;
  auto decoded = data::decode_lcp_echo(payload);
  if (!decoded.ok()) return drop(Drop::rx_bad_lcp);
  Inbound in;
  in.action = Inbound::Action::none;
  if (decoded.echo.kind == data::LcpEchoKind::reply) {
    // Only a reply that came back over UDP proves the UDP path both ways (transport_monitor.hpp).
    if (via == Transport::udp) session.last_udp_echo_reply_ns.store(ns_of(now), std::memory_order_relaxed);
    return in;
  }
  data::LcpEcho answer = data::make_echo_reply(decoded.echo, options_.echo_magic);
  answer.data = {};  // never reflect peer-chosen bytes back (no amplification)
  if (reply.size() < kEchoFrameMax) return in;
  std::size_t len = data::encode_lcp_echo(answer, reply.subspan(data::kSealHeadroom));
  data::SealResult sealed = seal(session, data::PppProtocol::lcp, reply.first(kEchoFrameMax), len, now);
  if (!sealed.ok()) {
    drops_.bump(Drop::tx_seal_failed);
    bump(session.tx_dropped);
    return in;
  }
  // Answered by the way it came: a UDP probe from a client on the TLS fallback must be answered
  // over UDP, or it would never learn that UDP works again.
  in.action = Inbound::Action::reply;
  in.packet = reply.first(sealed.length);
  in.via = via;
  return in;
}

std::size_t ForwardingCore::seal_echo_request(PeerSession& session, std::uint8_t identifier, TimePoint now,
                                              std::span<std::uint8_t> out) {
  if (out.size() < kEchoFrameMax) return 0;
  data::LcpEcho echo{data::LcpEchoKind::request, identifier, options_.echo_magic, {}};
  std::size_t len = data::encode_lcp_echo(echo, out.subspan(data::kSealHeadroom));
  data::SealResult sealed = seal(session, data::PppProtocol::lcp, out.first(kEchoFrameMax), len, now);
  if (!sealed.ok()) {
    drops_.bump(Drop::tx_seal_failed);
    bump(session.tx_dropped);
    return 0;
  }
  return sealed.length;
}

bool ForwardingCore::switch_transport(PeerSession& session, Transport to) {
  if (session.transport.exchange(to) == to) return false;
  bump(session.transport_switches);
  return true;
}

KeyWants ForwardingCore::take_key_wants(PeerSession& session) {
  std::optional<std::uint32_t> tx, rx;
  {
    std::lock_guard lock(session.tx_mutex);
    tx = session.sender.wanted_epoch();
  }
  {
    std::lock_guard lock(session.rx_mutex);
    rx = session.receiver.wanted_epoch();
  }
  KeyWants wants;
  if (tx && session.tx_epoch_requested.exchange(*tx) != *tx) wants.send = tx;
  if (rx && session.rx_epoch_requested.exchange(*rx) != *rx) wants.receive = rx;
  return wants;
}

bool ForwardingCore::endpoint_of(PeerSession& session, sockaddr_storage& to, socklen_t& to_len) {
  std::lock_guard lock(session.endpoint_mutex);
  if (session.endpoint_len == 0) return false;
  std::memcpy(&to, &session.endpoint, session.endpoint_len);
  to_len = session.endpoint_len;
  return true;
}

}  // namespace postern::tunnel::forward
