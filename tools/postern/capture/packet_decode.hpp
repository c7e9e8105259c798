// Link layer -> IPv4/IPv6 -> UDP/TCP decoding of captured frames for `postern capture`.
// Contract: sans-I/O and total: any byte string (truncated, malformed, hostile) yields a
// DecodedPacket, never an exception or a read past the end. It does not reassemble IP fragments:
// a fragment is reported as such (its bytes still go through the leak check).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace postern::tools::capture {

// Link types as returned by pcap_datalink() (DLT_*) and stored in files (LINKTYPE_*).
namespace linktype {
inline constexpr int null_bsd = 0;      // DLT_NULL: 4-byte host-order address family
inline constexpr int ethernet = 1;      // DLT_EN10MB
inline constexpr int raw_dlt = 12;      // DLT_RAW (Linux value)
inline constexpr int raw_dlt_bsd = 14;  // DLT_RAW (OpenBSD value)
inline constexpr int raw = 101;         // LINKTYPE_RAW
inline constexpr int loop = 108;        // DLT_LOOP: 4-byte network-order address family
inline constexpr int linux_sll = 113;   // "any" device, cooked v1
inline constexpr int ipv4 = 228;
inline constexpr int ipv6 = 229;
inline constexpr int linux_sll2 = 276;  // cooked v2
}  // namespace linktype

enum class Transport { none, udp, tcp, other_ip };
std::string_view to_string(Transport transport);

struct DecodedPacket {
  Transport transport = Transport::none;
  std::uint8_t ip_version = 0;  // 4 or 6 once the IP header decoded; 0: not IP
  // IPv4 protocol, or the IPv6 next header after the extension headers (17 UDP, 6 TCP, 58 ICMPv6)
  std::uint8_t protocol = 0;
  std::string src_ip;
  std::string dst_ip;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint32_t tcp_seq = 0;
  std::uint8_t tcp_flags = 0;  // FIN 0x01, SYN 0x02, RST 0x04 ...
  bool fragment = false;       // an IP fragment: payload is partial or absent
  std::span<const std::uint8_t> payload;  // UDP/TCP payload
  std::string_view problem;    // why decoding stopped early ("" when fully decoded)

  std::string src() const;  // "ip:port" ("[v6]:port")
  std::string dst() const;
};

inline constexpr std::uint8_t kTcpSyn = 0x02;

DecodedPacket decode_packet(int link_type, std::span<const std::uint8_t> frame);

}  // namespace postern::tools::capture
