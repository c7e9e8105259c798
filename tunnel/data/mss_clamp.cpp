// MSS clamping (see mss_clamp.hpp). IPv4 per RFC 791, IPv6 per RFC 8200 section 4 (extension
// header chain walked for hop-by-hop, routing and destination options; a fragment header means
// "not a first-fragment SYN we can see", so we leave it), TCP options per RFC 9293 section 3.2.
#include "tunnel/data/mss_clamp.hpp"

#include "tunnel/data/gre_frame.hpp"

namespace postern::tunnel::data {
namespace {

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kTcpFlagSyn = 0x02;
constexpr std::uint8_t kOptEnd = 0, kOptNop = 1, kOptMss = 2;

// Returns the TCP segment inside an IPv4 packet, or an empty span.
std::span<std::uint8_t> ipv4_tcp_segment(std::span<std::uint8_t> packet) {
  if (packet.size() < 20) return {};
  const std::size_t ihl = static_cast<std::size_t>(packet[0] & 0x0F) * 4;
  const std::size_t total = load_be16(&packet[2]);
  if (ihl < 20 || total < ihl || total > packet.size() || packet[9] != kProtoTcp) return {};
  if ((load_be16(&packet[6]) & 0x1FFF) != 0) return {};  // not the first fragment
  return packet.subspan(ihl, total - ihl);
}

// Returns the TCP segment inside an IPv6 packet, or an empty span.
std::span<std::uint8_t> ipv6_tcp_segment(std::span<std::uint8_t> packet) {
  if (packet.size() < 40) return {};
  const std::size_t end = 40 + std::size_t{load_be16(&packet[4])};
  if (end > packet.size()) return {};
  std::uint8_t next = packet[6];
  std::size_t offset = 40;
  for (int hops = 0; hops < 8; ++hops) {
    if (offset > end) return {};  // an extension header claimed more than the payload
    if (next == kProtoTcp) return packet.subspan(offset, end - offset);
    if (next != 0 && next != 43 && next != 60) return {};  // hop-by-hop, routing, dest options
    if (offset + 8 > end) return {};
    next = packet[offset];
    offset += (std::size_t{packet[offset + 1]} + 1) * 8;
  }
  return {};
}

}  // namespace

std::uint16_t checksum_adjust(std::uint16_t checksum, std::uint16_t old_word, std::uint16_t new_word) {
  std::uint32_t sum = static_cast<std::uint16_t>(~checksum);
  sum += static_cast<std::uint16_t>(~old_word);
  sum += new_word;
  sum = (sum & 0xFFFF) + (sum >> 16);
  sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

bool clamp_tcp_mss(std::span<std::uint8_t> ip_packet, std::uint16_t max_mss) {
  if (ip_packet.empty()) return false;
  const unsigned version = ip_packet[0] >> 4;
  std::span<std::uint8_t> tcp = version == 4   ? ipv4_tcp_segment(ip_packet)
                                : version == 6 ? ipv6_tcp_segment(ip_packet)
                                               : std::span<std::uint8_t>{};
  if (tcp.size() < 20 || (tcp[13] & kTcpFlagSyn) == 0) return false;
  const std::size_t header_len = static_cast<std::size_t>(tcp[12] >> 4) * 4;
  if (header_len < 20 || header_len > tcp.size()) return false;
  std::size_t i = 20;
  while (i < header_len) {
    const std::uint8_t kind = tcp[i];
    if (kind == kOptEnd) return false;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= header_len || tcp[i + 1] < 2 || i + tcp[i + 1] > header_len) return false;
    if (kind == kOptMss && tcp[i + 1] == 4) {
      const std::uint16_t mss = load_be16(&tcp[i + 2]);
      if (mss <= max_mss) return false;
      // The option may sit at an odd offset; the checksum sums 16-bit words aligned to the
      // segment start, so adjust every aligned word the value touches (one or two).
      const std::size_t first = (i + 2) & ~std::size_t{1};
      const std::size_t words = (i + 2) % 2 == 0 ? 1 : 2;
      std::uint16_t before[2] = {};
      for (std::size_t w = 0; w < words; ++w) before[w] = load_be16(&tcp[first + 2 * w]);
      store_be16(&tcp[i + 2], max_mss);
      std::uint16_t checksum = load_be16(&tcp[16]);
      for (std::size_t w = 0; w < words; ++w) {
        checksum = checksum_adjust(checksum, before[w], load_be16(&tcp[first + 2 * w]));
      }
      store_be16(&tcp[16], checksum);
      return true;
    }
    i += tcp[i + 1];
  }
  return false;
}

}  // namespace postern::tunnel::data
