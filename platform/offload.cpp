// TUN offloads, the pure part (see offload.hpp). Field offsets: IPv4 RFC 791 3.1, IPv6
// RFC 8200 3, TCP RFC 9293 3.1. Segmentation follows the kernel's tcp_gso_segment(): the headers
// are replicated, the IPv4 id counts up per segment, the sequence number advances by gso_size,
// FIN/PSH stay on the last segment and CWR on the first. UDP (RFC 768) follows
// __udp_gso_segment(): each datagram gets the headers, its own length and a full checksum.
#include "platform/offload.hpp"

#include <algorithm>
#include <cstring>

namespace postern::platform {
namespace {

constexpr std::uint8_t kTcp = 6, kUdp = 17;
constexpr std::size_t kIpv4Min = 20, kIpv6Header = 40, kTcpMin = 20, kTcpCheck = 16, kTcpFlags = 13;
constexpr std::size_t kUdpHeader = 8, kUdpLength = 4, kUdpCheck = 6;
constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kUrg = 0x20, kEce = 0x40,
                       kCwr = 0x80;

std::uint16_t load16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void store16(std::uint8_t* p, std::size_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store32(std::uint8_t* p, std::uint32_t v) {
  store16(p, v >> 16);
  store16(p + 2, v & 0xffff);
}
// A folded sum is in memory order (checksum_partial adds native-order words), so it is stored
// with memcpy, not byte-swapped.
void store_sum(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, sizeof(v)); }

// The IP + L4 header lengths of a TCP or UDP packet, or false. IPv6 extension headers are not
// walked: the kernel puts none in front of TCP/UDP on a TUN, and anything else is not offloaded.
struct L4Layout {
  std::size_t ip = 0;
  std::size_t headers = 0;  // ip + tcp/udp
  bool ipv6 = false;
};
bool parse_l4(std::span<const std::uint8_t> packet, std::uint8_t protocol, L4Layout& out) {
  if (packet.empty()) return false;
  const std::uint8_t version = packet[0] >> 4;
  if (version == 4) {
    if (packet.size() < kIpv4Min) return false;
    out.ip = static_cast<std::size_t>(packet[0] & 0x0f) * 4;
    if (out.ip < kIpv4Min || packet[9] != protocol) return false;
    if ((load16(packet.data() + 6) & 0x3fff) != 0) return false;  // a fragment (MF or offset)
    out.ipv6 = false;
  } else if (version == 6) {
    if (packet.size() < kIpv6Header || packet[6] != protocol) return false;
    out.ip = kIpv6Header;
    out.ipv6 = true;
  } else {
    return false;
  }
  if (protocol == kUdp) {
    out.headers = out.ip + kUdpHeader;
    return packet.size() >= out.headers;
  }
  if (packet.size() < out.ip + kTcpMin) return false;
  const std::size_t tcp = static_cast<std::size_t>(packet[out.ip + 12] >> 4) * 4;
  if (tcp < kTcpMin || packet.size() < out.ip + tcp) return false;
  out.headers = out.ip + tcp;
  return true;
}
bool parse_tcp(std::span<const std::uint8_t> packet, L4Layout& out) { return parse_l4(packet, kTcp, out); }

// A partial sum as the checksum field holds it: complemented, and 0 sent as 0xffff (the same
// in ones' complement; for UDP 0 means "no checksum"), as the kernel's skb_checksum_help does.
std::uint16_t field_value(std::uint64_t sum) {
  const auto value = static_cast<std::uint16_t>(~checksum_fold(sum));
  return value == 0 ? 0xffff : value;
}

// The L4 checksum of `packet` (field zeroed by the caller), ready to store.
std::uint16_t l4_checksum(std::span<const std::uint8_t> packet, std::size_t ip_header, std::uint8_t protocol) {
  const std::size_t l4 = packet.size() - ip_header;
  return field_value(checksum_partial(packet.subspan(ip_header), pseudo_header_sum(packet, protocol, l4)));
}

std::uint8_t gso_kind(const VnetHeader& header) {
  return header.gso_type & static_cast<std::uint8_t>(~VnetHeader::kGsoEcn);
}

}  // namespace

VnetHeader VnetHeader::decode(std::span<const std::uint8_t, kSize> bytes) {
  VnetHeader h;
  h.flags = bytes[0];
  h.gso_type = bytes[1];
  std::memcpy(&h.hdr_len, bytes.data() + 2, 2);
  std::memcpy(&h.gso_size, bytes.data() + 4, 2);
  std::memcpy(&h.csum_start, bytes.data() + 6, 2);
  std::memcpy(&h.csum_offset, bytes.data() + 8, 2);
  return h;
}

void VnetHeader::encode(std::span<std::uint8_t, kSize> bytes) const {
  bytes[0] = flags;
  bytes[1] = gso_type;
  std::memcpy(bytes.data() + 2, &hdr_len, 2);
  std::memcpy(bytes.data() + 4, &gso_size, 2);
  std::memcpy(bytes.data() + 6, &csum_start, 2);
  std::memcpy(bytes.data() + 8, &csum_offset, 2);
}

std::string_view to_string(Offload result) {
  switch (result) {
    case Offload::ok: return "ok";
    case Offload::malformed: return "malformed";
    case Offload::unsupported: return "unsupported";
    case Offload::buffer_too_small: return "buffer_too_small";
  }
  return "?";
}

std::uint64_t checksum_partial(std::span<const std::uint8_t> bytes, std::uint64_t initial) {
  // 32-bit native-order words into a 64-bit accumulator: the ones' complement sum is
  // independent of byte order and word width once folded (RFC 1071 2(B), 2(C)).
  std::uint64_t sum = initial;
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 4; n -= 4, p += 4) {
    std::uint32_t word = 0;
    std::memcpy(&word, p, 4);
    sum += word;
  }
  if (n >= 2) {
    std::uint16_t word = 0;
    std::memcpy(&word, p, 2);
    sum += word;
    n -= 2;
    p += 2;
  }
  if (n == 1) {
    const std::uint8_t last[2] = {*p, 0};
    std::uint16_t word = 0;
    std::memcpy(&word, last, 2);
    sum += word;
  }
  return sum;
}

std::uint16_t checksum_fold(std::uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint64_t pseudo_header_sum(std::span<const std::uint8_t> packet, std::uint8_t protocol,
                                std::size_t l4_length) {
  const bool v6 = (packet[0] >> 4) == 6;
  std::uint64_t sum = v6 ? checksum_partial(packet.subspan(8, 32)) : checksum_partial(packet.subspan(12, 8));
  const std::uint8_t tail[8] = {static_cast<std::uint8_t>(l4_length >> 24), static_cast<std::uint8_t>(l4_length >> 16),
                                static_cast<std::uint8_t>(l4_length >> 8),  static_cast<std::uint8_t>(l4_length),
                                0, 0, 0, protocol};
  return checksum_partial(tail, sum);
}

void fix_ipv4_header_checksum(std::span<std::uint8_t> packet) {
  const std::size_t ihl = static_cast<std::size_t>(packet[0] & 0x0f) * 4;
  packet[10] = packet[11] = 0;
  store_sum(packet.data() + 10, static_cast<std::uint16_t>(~checksum_fold(checksum_partial(packet.first(ihl)))));
}

bool fix_tcp_checksum(std::span<std::uint8_t> packet) {
  L4Layout layout;
  if (!parse_tcp(packet, layout)) return false;
  packet[layout.ip + kTcpCheck] = packet[layout.ip + kTcpCheck + 1] = 0;
  store_sum(packet.data() + layout.ip + kTcpCheck, l4_checksum(packet, layout.ip, kTcp));
  return true;
}

Offload complete_checksum(const VnetHeader& header, std::span<std::uint8_t> packet) {
  if ((header.flags & VnetHeader::kNeedsCsum) == 0) return Offload::ok;
  const std::size_t field = std::size_t{header.csum_start} + header.csum_offset;
  if (header.csum_start >= packet.size() || field + 2 > packet.size()) return Offload::malformed;
  // The field holds the pseudo-header sum already, so it is summed along, not zeroed.
  store_sum(packet.data() + field, field_value(checksum_partial(packet.subspan(header.csum_start))));
  return Offload::ok;
}

std::size_t segment_count(const VnetHeader& header, std::span<const std::uint8_t> packet, Offload& result) {
  result = Offload::ok;
  const std::uint8_t type = gso_kind(header);
  if (type == VnetHeader::kGsoNone) {
    if (packet.empty()) result = Offload::malformed;
    return packet.empty() ? 0 : 1;
  }
  L4Layout layout;
  if (type == VnetHeader::kGsoUdpL4) {
    // The UDP length field is rewritten per segment, so it is not checked here.
    if (!parse_l4(packet, kUdp, layout) || header.gso_size == 0) {
      result = Offload::malformed;
      return 0;
    }
  } else if (type == VnetHeader::kGsoTcpV4 || type == VnetHeader::kGsoTcpV6) {
    if (!parse_tcp(packet, layout) || layout.ipv6 != (type == VnetHeader::kGsoTcpV6) || header.gso_size == 0) {
      result = Offload::malformed;
      return 0;
    }
  } else {
    result = Offload::unsupported;
    return 0;
  }
  const std::size_t payload = packet.size() - layout.headers;
  return payload == 0 ? 1 : (payload + header.gso_size - 1) / header.gso_size;
}

std::size_t write_segment(const VnetHeader& header, std::span<const std::uint8_t> packet, std::size_t index,
                          std::span<std::uint8_t> out, Offload& result) {
  const std::size_t count = segment_count(header, packet, result);
  if (result != Offload::ok) return 0;
  if (index >= count) {
    result = Offload::malformed;
    return 0;
  }
  const std::uint8_t type = gso_kind(header);
  if (type == VnetHeader::kGsoNone) {
    if (out.size() < packet.size()) {
      result = Offload::buffer_too_small;
      return 0;
    }
    std::memcpy(out.data(), packet.data(), packet.size());
    result = complete_checksum(header, out.first(packet.size()));
    return result == Offload::ok ? packet.size() : 0;
  }
  const bool udp = type == VnetHeader::kGsoUdpL4;
  L4Layout layout;
  parse_l4(packet, udp ? kUdp : kTcp, layout);  // validated by segment_count
  const std::size_t offset = layout.headers + index * header.gso_size;
  const std::size_t payload = std::min<std::size_t>(header.gso_size, packet.size() - offset);
  const std::size_t total = layout.headers + payload;
  if (out.size() < total) {
    result = Offload::buffer_too_small;
    return 0;
  }
  std::memcpy(out.data(), packet.data(), layout.headers);
  std::memcpy(out.data() + layout.headers, packet.data() + offset, payload);
  std::uint8_t* ip = out.data();
  if (layout.ipv6) {
    store16(ip + 4, total - kIpv6Header);
  } else {
    store16(ip + 2, total);
    store16(ip + 4, (load16(ip + 4) + index) & 0xffff);
    fix_ipv4_header_checksum(out.first(total));
  }
  if (udp) {
    std::uint8_t* datagram = ip + layout.ip;
    store16(datagram + kUdpLength, total - layout.ip);
    datagram[kUdpCheck] = datagram[kUdpCheck + 1] = 0;
    store_sum(datagram + kUdpCheck, l4_checksum(out.first(total), layout.ip, kUdp));
    return total;
  }
  std::uint8_t* tcp = ip + layout.ip;
  store32(tcp + 4, static_cast<std::uint32_t>(load32(tcp + 4) + index * header.gso_size));
  if (index + 1 < count) tcp[kTcpFlags] &= static_cast<std::uint8_t>(~(kFin | kPsh));
  if (index > 0) tcp[kTcpFlags] &= static_cast<std::uint8_t>(~kCwr);
  tcp[kTcpCheck] = tcp[kTcpCheck + 1] = 0;
  store_sum(tcp + kTcpCheck, l4_checksum(out.first(total), layout.ip, kTcp));
  return total;
}

namespace {

// What GRO needs of the IP part of either protocol: a payload after the L4 header, IPv4 without
// options, and the IP length matching the bytes (no trailing garbage). Fragments never parse.
bool mergeable_ip(std::span<const std::uint8_t> packet, const L4Layout& layout) {
  if (packet.size() == layout.headers) return false;
  if (layout.ipv6) return load16(packet.data() + 4) + kIpv6Header == packet.size();
  return layout.ip == kIpv4Min && load16(packet.data() + 2) == packet.size();
}

// A segment that can take part in GRO: mergeable_ip() TCP with no flags but ACK/PSH.
bool coalescable(std::span<const std::uint8_t> packet, L4Layout& layout) {
  if (!parse_tcp(packet, layout) || !mergeable_ip(packet, layout)) return false;
  return (packet[layout.ip + kTcpFlags] & (kFin | kSyn | kRst | kUrg | kEce | kCwr)) == 0;
}

// A datagram that can take part in UDP GRO: mergeable_ip() UDP with the UDP length matching
// the bytes and (IPv4) a checksum present: with NEEDS_CSUM the kernel would compute one for a
// datagram sent without.
bool coalescable_udp(std::span<const std::uint8_t> packet, L4Layout& layout) {
  if (!parse_l4(packet, kUdp, layout) || !mergeable_ip(packet, layout)) return false;
  const std::uint8_t* datagram = packet.data() + layout.ip;
  if (load16(datagram + kUdpLength) != packet.size() - layout.ip) return false;
  return layout.ipv6 || load16(datagram + kUdpCheck) != 0;
}

// Everything but length, id and checksum (IPv4) / payload length (IPv6) must match for two
// packets to be one flow's; in TCP also everything but the sequence number, PSH and checksum.
bool same_ip_header(const std::uint8_t* a, const std::uint8_t* b, bool ipv6) {
  if (ipv6) return std::memcmp(a, b, 4) == 0 && std::memcmp(a + 6, b + 6, 34) == 0;
  return std::memcmp(a, b, 2) == 0 && std::memcmp(a + 6, b + 6, 4) == 0 && std::memcmp(a + 12, b + 12, 8) == 0;
}

bool same_flow_headers(const std::uint8_t* a, const std::uint8_t* b, const L4Layout& layout) {
  if (!same_ip_header(a, b, layout.ipv6)) return false;
  const std::uint8_t* ta = a + layout.ip;
  const std::uint8_t* tb = b + layout.ip;
  if (std::memcmp(ta, tb, 4) != 0 || std::memcmp(ta + 8, tb + 8, 5) != 0) return false;  // ports, ack, offset
  if ((ta[kTcpFlags] | kPsh) != (tb[kTcpFlags] | kPsh) || std::memcmp(ta + 14, tb + 14, 2) != 0) return false;
  return std::memcmp(ta + kTcpMin, tb + kTcpMin, layout.headers - layout.ip - kTcpMin) == 0;  // options
}

}  // namespace

bool GroCoalescer::start(std::span<std::uint8_t> buffer, std::span<const std::uint8_t> packet) {
  size_ = 0;
  if (buffer.size() < kMaxSize) return false;
  L4Layout layout;
  if (coalescable(packet, layout)) {
    udp_ = false;
    next_seq_ = static_cast<std::uint32_t>(load32(packet.data() + layout.ip + 4) + packet.size() - layout.headers);
    closed_ = (packet[layout.ip + kTcpFlags] & kPsh) != 0;
  } else if (udp_allowed_ && coalescable_udp(packet, layout)) {
    udp_ = true;
    closed_ = false;
  } else {
    return false;
  }
  buffer_ = buffer;
  std::memcpy(buffer_.data(), packet.data(), packet.size());
  size_ = packet.size();
  headers_ = layout.headers;
  ip_header_ = layout.ip;
  ipv6_ = layout.ipv6;
  segment_size_ = packet.size() - layout.headers;
  segments_ = 1;
  return true;
}

bool GroCoalescer::append(std::span<const std::uint8_t> packet) {
  if (size_ == 0 || closed_ || segments_ >= kMaxSegments) return false;
  return udp_ ? append_udp(packet) : append_tcp(packet);
}

bool GroCoalescer::append_tcp(std::span<const std::uint8_t> packet) {
  L4Layout layout;
  if (!coalescable(packet, layout) || layout.ipv6 != ipv6_ || layout.headers != headers_) return false;
  const std::size_t payload = packet.size() - layout.headers;
  if (payload > segment_size_ || size_ + payload > kMaxSize) return false;
  if (load32(packet.data() + layout.ip + 4) != next_seq_) return false;
  if (!same_flow_headers(buffer_.data(), packet.data(), layout)) return false;
  std::memcpy(buffer_.data() + size_, packet.data() + headers_, payload);
  size_ += payload;
  next_seq_ = static_cast<std::uint32_t>(next_seq_ + payload);
  ++segments_;
  const bool push = (packet[layout.ip + kTcpFlags] & kPsh) != 0;
  if (push) buffer_[ip_header_ + kTcpFlags] |= kPsh;
  closed_ = push || payload < segment_size_;
  return true;
}

bool GroCoalescer::append_udp(std::span<const std::uint8_t> packet) {
  L4Layout layout;
  if (!coalescable_udp(packet, layout) || layout.ipv6 != ipv6_) return false;
  const std::size_t payload = packet.size() - layout.headers;
  if (payload > segment_size_ || size_ + payload > kMaxSize) return false;
  if (!same_ip_header(buffer_.data(), packet.data(), ipv6_) ||
      std::memcmp(buffer_.data() + ip_header_, packet.data() + layout.ip, 4) != 0) {  // ports
    return false;
  }
  std::memcpy(buffer_.data() + size_, packet.data() + headers_, payload);
  size_ += payload;
  ++segments_;
  closed_ = payload < segment_size_;
  return true;
}

std::span<const std::uint8_t> GroCoalescer::finish(VnetHeader& header) {
  header = VnetHeader{};
  const std::span<std::uint8_t> packet = buffer_.first(size_);
  const std::size_t segments = segments_;
  size_ = 0;
  segments_ = 0;
  if (segments <= 1) return packet;
  if (ipv6_) {
    store16(packet.data() + 4, packet.size() - kIpv6Header);
  } else {
    store16(packet.data() + 2, packet.size());
    fix_ipv4_header_checksum(packet);
  }
  // CHECKSUM_PARTIAL, as GRO leaves it: the field holds the (uncomplemented) pseudo-header sum.
  const std::size_t l4_length = packet.size() - ip_header_;
  const std::size_t check_offset = udp_ ? kUdpCheck : kTcpCheck;
  if (udp_) store16(packet.data() + ip_header_ + kUdpLength, l4_length);
  store_sum(packet.data() + ip_header_ + check_offset,
            checksum_fold(pseudo_header_sum(packet, udp_ ? kUdp : kTcp, l4_length)));
  header.flags = VnetHeader::kNeedsCsum;
  header.gso_type = udp_ ? VnetHeader::kGsoUdpL4 : (ipv6_ ? VnetHeader::kGsoTcpV6 : VnetHeader::kGsoTcpV4);
  header.hdr_len = static_cast<std::uint16_t>(headers_);
  header.gso_size = static_cast<std::uint16_t>(segment_size_);
  header.csum_start = static_cast<std::uint16_t>(ip_header_);
  header.csum_offset = static_cast<std::uint16_t>(check_offset);
  return packet;
}

}  // namespace postern::platform
