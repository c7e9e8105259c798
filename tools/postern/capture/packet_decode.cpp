// Frame decoding for `postern capture`; see packet_decode.hpp for the contract.
#include "tools/postern/capture/packet_decode.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <fmt/format.h>

namespace postern::tools::capture {
namespace {

using Bytes = std::span<const std::uint8_t>;

std::uint16_t be16(Bytes b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t be32(Bytes b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;

std::string ip_text(int family, const std::uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, buf, sizeof(buf));
  return buf;
}

void decode_transport(std::uint8_t proto, Bytes l4, DecodedPacket& p) {
  if (proto == kProtoUdp) {
    if (l4.size() < 8) {
      p.problem = "truncated UDP header";
      return;
    }
    p.transport = Transport::udp;
    p.src_port = be16(l4, 0);
    p.dst_port = be16(l4, 2);
    std::size_t len = be16(l4, 4);
    // The UDP length trims link-layer padding; a shorter capture keeps what was captured.
    std::size_t end = (len >= 8 && len <= l4.size()) ? len : l4.size();
    p.payload = l4.subspan(8, end - 8);
  } else if (proto == kProtoTcp) {
    if (l4.size() < 20) {
      p.problem = "truncated TCP header";
      return;
    }
    std::size_t header = static_cast<std::size_t>(l4[12] >> 4) * 4;
    if (header < 20 || header > l4.size()) {
      p.problem = "bad TCP header length";
      return;
    }
    p.transport = Transport::tcp;
    p.src_port = be16(l4, 0);
    p.dst_port = be16(l4, 2);
    p.tcp_seq = be32(l4, 4);
    p.tcp_flags = l4[13];
    p.payload = l4.subspan(header);
  } else {
    p.transport = Transport::other_ip;
  }
}

void decode_ipv4(Bytes b, DecodedPacket& p) {
  if (b.size() < 20 || (b[0] >> 4) != 4) {
    p.problem = "truncated or bad IPv4 header";
    return;
  }
  std::size_t ihl = static_cast<std::size_t>(b[0] & 0x0F) * 4;
  std::size_t total = be16(b, 2);
  if (ihl < 20 || ihl > b.size()) {
    p.problem = "bad IPv4 header length";
    return;
  }
  if (total >= ihl && total < b.size()) b = b.first(total);  // drop Ethernet padding
  p.ip_version = 4;
  p.protocol = b[9];
  p.src_ip = ip_text(AF_INET, &b[12]);
  p.dst_ip = ip_text(AF_INET, &b[16]);
  std::uint16_t frag = be16(b, 6);
  bool more_fragments = (frag & 0x2000) != 0;
  std::uint16_t offset = frag & 0x1FFF;
  p.fragment = more_fragments || offset != 0;
  if (offset != 0) {
    p.transport = Transport::other_ip;  // no transport header in a non-first fragment
    p.problem = "IPv4 fragment";
    return;
  }
  decode_transport(b[9], b.subspan(ihl), p);
}

void decode_ipv6(Bytes b, DecodedPacket& p) {
  if (b.size() < 40 || (b[0] >> 4) != 6) {
    p.problem = "truncated or bad IPv6 header";
    return;
  }
  std::size_t payload_len = be16(b, 4);
  if (40 + payload_len < b.size()) b = b.first(40 + payload_len);
  p.ip_version = 6;
  p.src_ip = ip_text(AF_INET6, &b[8]);
  p.dst_ip = ip_text(AF_INET6, &b[24]);
  std::uint8_t next = b[6];
  std::size_t at = 40;
  // Skip hop-by-hop (0), routing (43) and destination options (60) headers (RFC 8200 4).
  for (int hops = 0; hops < 8 && (next == 0 || next == 43 || next == 60 || next == 44); ++hops) {
    if (at + 8 > b.size()) {
      p.problem = "truncated IPv6 extension header";
      return;
    }
    if (next == 44) {  // fragment header (RFC 8200 4.5)
      p.fragment = true;
      if ((be16(b, at + 2) & 0xFFF8) != 0) {
        p.protocol = b[at];
        p.transport = Transport::other_ip;
        p.problem = "IPv6 fragment";
        return;
      }
      next = b[at];
      at += 8;
      continue;
    }
    std::size_t len = (static_cast<std::size_t>(b[at + 1]) + 1) * 8;
    next = b[at];
    at += len;
  }
  if (at > b.size()) {
    p.problem = "truncated IPv6 extension header";
    return;
  }
  p.protocol = next;
  decode_transport(next, b.subspan(at), p);
}

void decode_ip(std::uint16_t ethertype, Bytes b, DecodedPacket& p) {
  if (ethertype == kEtherIpv4) return decode_ipv4(b, p);
  if (ethertype == kEtherIpv6) return decode_ipv6(b, p);
  p.problem = "not IP";
}

std::uint16_t ethertype_from_version(Bytes b) {
  if (b.empty()) return 0;
  if ((b[0] >> 4) == 4) return kEtherIpv4;
  if ((b[0] >> 4) == 6) return kEtherIpv6;
  return 0;
}

std::uint16_t ethertype_from_family(std::uint32_t family) {
  if (family == AF_INET || family == 2) return kEtherIpv4;
  // AF_INET6 differs between systems: Linux 10, BSDs 24, 28, 30.
  if (family == 10 || family == 24 || family == 28 || family == 30) return kEtherIpv6;
  return 0;
}

void decode_ethernet(Bytes b, DecodedPacket& p) {
  if (b.size() < 14) {
    p.problem = "truncated Ethernet header";
    return;
  }
  std::size_t at = 12;
  std::uint16_t type = be16(b, at);
  for (int tags = 0; tags < 2 && (type == kEtherVlan || type == kEtherQinQ); ++tags) {
    at += 4;
    if (at + 2 > b.size()) {
      p.problem = "truncated VLAN tag";
      return;
    }
    type = be16(b, at);
  }
  decode_ip(type, b.subspan(at + 2), p);
}

}  // namespace

std::string_view to_string(Transport transport) {
  switch (transport) {
    case Transport::none: return "none";
    case Transport::udp: return "udp";
    case Transport::tcp: return "tcp";
    case Transport::other_ip: return "ip";
  }
  return "?";
}

std::string DecodedPacket::src() const {
  return src_ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", src_ip, src_port)
                                               : fmt::format("{}:{}", src_ip, src_port);
}

std::string DecodedPacket::dst() const {
  return dst_ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", dst_ip, dst_port)
                                               : fmt::format("{}:{}", dst_ip, dst_port);
}

DecodedPacket decode_packet(int link_type, Bytes frame) {
  DecodedPacket p;
  switch (link_type) {
    case linktype::ethernet:
      decode_ethernet(frame, p);
      break;
    case linktype::raw:
    case linktype::raw_dlt:
    case linktype::raw_dlt_bsd:
    case linktype::ipv4:
    case linktype::ipv6:
      decode_ip(ethertype_from_version(frame), frame, p);
      break;
    case linktype::null_bsd:
    case linktype::loop:
      if (frame.size() < 4) {
        p.problem = "truncated loopback header";
        break;
      }
      {
        std::uint32_t family = link_type == linktype::loop
                                   ? be32(frame, 0)
                                   : (std::uint32_t{frame[0]} | std::uint32_t{frame[1]} << 8 |
                                      std::uint32_t{frame[2]} << 16 | std::uint32_t{frame[3]} << 24);
        decode_ip(ethertype_from_family(family), frame.subspan(4), p);
      }
      break;
    case linktype::linux_sll:
      if (frame.size() < 16) {
        p.problem = "truncated SLL header";
        break;
      }
      decode_ip(be16(frame, 14), frame.subspan(16), p);
      break;
    case linktype::linux_sll2:
      if (frame.size() < 20) {
        p.problem = "truncated SLL2 header";
        break;
      }
      decode_ip(be16(frame, 0), frame.subspan(20), p);
      break;
    default:
      p.problem = "unsupported link type";
  }
  return p;
}

}  // namespace postern::tools::capture
