// TUN offloads, the pure part: the virtio_net_hdr that precedes every packet on an IFF_VNET_HDR
// TUN fd (include/uapi/linux/virtio_net.h), TCP and UDP segmentation of the kernel's GSO
// super-packets (TSO/USO done in userspace, as wireguard-go's tun/offload_linux.go does), the
// checksum the kernel leaves to us for CHECKSUM_PARTIAL packets (VIRTIO_NET_HDR_F_NEEDS_CSUM),
// and the receive-side coalescing of in-order TCP segments, or of equal-size UDP datagrams, of
// one flow into one super-packet (GRO).
// Contract: sans-I/O and allocation-free; bytes in, bytes out. Everything here is fed packets
// the kernel or an authenticated peer produced, so malformed input is a normal result
// (Offload::malformed: drop the packet), never an assert or an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace postern::platform {

// struct virtio_net_hdr, native byte order (a TUN device without TUNSETVNETBE on a little-endian
// host; this project targets Linux on x86-64/arm64, both little-endian).
struct VnetHeader {
  static constexpr std::size_t kSize = 10;
  static constexpr std::uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  // VIRTIO_NET_HDR_GSO_*: UDP_L4 (5) is UDP segmentation (USO), one datagram per gso_size bytes.
  static constexpr std::uint8_t kGsoNone = 0, kGsoTcpV4 = 1, kGsoTcpV6 = 4, kGsoUdpL4 = 5, kGsoEcn = 0x80;

  std::uint8_t flags = 0;
  std::uint8_t gso_type = kGsoNone;
  std::uint16_t hdr_len = 0;      // length of the headers to replicate per segment
  std::uint16_t gso_size = 0;     // payload bytes per segment (the MSS)
  std::uint16_t csum_start = 0;   // where checksumming starts (the L4 header)
  std::uint16_t csum_offset = 0;  // where the checksum field is, relative to csum_start

  static VnetHeader decode(std::span<const std::uint8_t, kSize> bytes);
  void encode(std::span<std::uint8_t, kSize> bytes) const;
};

enum class Offload {
  ok,
  malformed,        // headers inconsistent with the vnet header or the length: drop
  unsupported,      // a GSO type we never enable (UFO, ECN-only...): drop
  buffer_too_small, // caller bug: an output buffer cannot hold one segment
};
std::string_view to_string(Offload result);

// RFC 1071 ones' complement sum over bytes, starting from `initial` (a partial sum from an
// earlier call or a pseudo-header). Partial sums are in memory order: store fold results with
// store_checksum(); an odd-length chunk may only be the last one.
std::uint64_t checksum_partial(std::span<const std::uint8_t> bytes, std::uint64_t initial = 0);
// Folds a partial sum to 16 bits (not complemented).
std::uint16_t checksum_fold(std::uint64_t sum);
// The TCP/UDP pseudo-header (RFC 793 3.1, RFC 8200 8.1) of an IPv4 or IPv6 packet, as a
// partial sum, for an L4 segment of l4_length bytes. `packet` starts at the IP header.
std::uint64_t pseudo_header_sum(std::span<const std::uint8_t> packet, std::uint8_t protocol,
                                std::size_t l4_length);
// Recomputes the IPv4 header checksum in place (packet starts at a valid IPv4 header).
void fix_ipv4_header_checksum(std::span<std::uint8_t> packet);
// Recomputes the TCP checksum in place (pseudo-header included). False if not IPv4/6 + TCP.
bool fix_tcp_checksum(std::span<std::uint8_t> packet);

// Completes a CHECKSUM_PARTIAL packet (NEEDS_CSUM): the field at csum_start + csum_offset holds
// the pseudo-header sum; the sum from csum_start to the end replaces it (0 is sent as 0xffff, as
// the kernel's skb_checksum_help does: a UDP checksum of 0 would mean "none"). No-op without the
// flag.
Offload complete_checksum(const VnetHeader& header, std::span<std::uint8_t> packet);

// TSO/USO in userspace. How many segments `packet` (as read from the TUN with `header`) becomes:
// 1 for a non-GSO packet, ceil(payload / gso_size) for TCPv4/TCPv6 and UDP L4 GSO. 0 with
// `result` set when the packet must be dropped.
std::size_t segment_count(const VnetHeader& header, std::span<const std::uint8_t> packet, Offload& result);
// Writes segment `index` (< segment_count) into `out` and returns its length, with its IP
// length/id/checksum and TCP sequence number, flags and checksum fixed: every segment carries
// the super-packet's headers; FIN and PSH only on the last, CWR only on the first (as the
// kernel's tcp_gso_segment). A UDP segment gets its own UDP length and checksum and the IPv4 id
// counts up the same way (__udp_gso_segment). A non-GSO packet is copied (checksum completed if
// NEEDS_CSUM).
std::size_t write_segment(const VnetHeader& header, std::span<const std::uint8_t> packet, std::size_t index,
                          std::span<std::uint8_t> out, Offload& result);

// GRO: coalesces the packets of one flow into one super-packet for a TUN write with a VnetHeader
// (NEEDS_CSUM and gso_type TCPv4/6 or UDP_L4), the way the kernel's GRO would have built it.
// Feed packets in arrival order; append() accepts a packet only when it directly continues the
// current super-packet, otherwise the caller flushes (finish()) and starts anew with start().
// TCP: same addresses/ports, next sequence number, same ACK/window/options bytes, equal-size
// segments with a possibly shorter last one, no SYN/FIN/RST/URG/CWR/ECE, and the IP header
// fields other than length/id/checksum unchanged.
// UDP (only when constructed with udp = true, i.e. the TUN took TUN_F_USO4/6): same addresses,
// ports and IP header fields, equal-size datagrams with a possibly shorter last one, an IPv4
// checksum present (a datagram sent without one keeps it that way, alone). The kernel splits
// the super-packet back into the same datagrams (udp_rcv_segment) before any socket sees it.
// Checksums are not verified before merging, for either protocol: every packet here came out
// of an authenticated frame, so it is exactly what the peer's kernel produced, and the kernel
// trusts CHECKSUM_PARTIAL on local delivery as it would a NIC's verdict.
class GroCoalescer {
 public:
  static constexpr std::size_t kMaxSize = 65535;  // IP total length limit for IPv4 GSO
  static constexpr std::size_t kMaxSegments = 64;

  explicit GroCoalescer(bool udp = false) : udp_allowed_(udp) {}

  // Starts a super-packet in `buffer` (the caller's, >= kMaxSize) from `packet`. False if the
  // packet is not coalescable (the caller writes it alone with a zero VnetHeader).
  bool start(std::span<std::uint8_t> buffer, std::span<const std::uint8_t> packet);
  // Appends `packet` if it continues the current super-packet; false leaves everything as is.
  bool append(std::span<const std::uint8_t> packet);
  // Finishes the super-packet: fixes IP length/checksum (and the UDP length), puts the
  // pseudo-header sum into the L4 checksum field and returns the packet and the header to write
  // it with. One segment comes back unchanged with a zero header.
  std::span<const std::uint8_t> finish(VnetHeader& header);
  bool active() const { return size_ != 0; }
  std::size_t segments() const { return segments_; }

 private:
  bool append_tcp(std::span<const std::uint8_t> packet);
  bool append_udp(std::span<const std::uint8_t> packet);

  std::span<std::uint8_t> buffer_;
  std::size_t size_ = 0;
  std::size_t headers_ = 0;       // IP + L4 header length
  std::size_t ip_header_ = 0;
  std::size_t segment_size_ = 0;  // payload of the first segment (gso_size)
  std::size_t segments_ = 0;
  std::uint32_t next_seq_ = 0;    // TCP only
  bool ipv6_ = false;
  bool udp_ = false;              // the current super-packet is UDP
  bool closed_ = false;  // the last segment was shorter (or had PSH): nothing may follow
  bool udp_allowed_ = false;
};

}  // namespace postern::platform
