// TunDevice: one queue of a Linux TUN interface carrying raw IP packets (IFF_TUN | IFF_NO_PI:
// no 4-byte packet-info header, a read returns exactly one IPv4 or IPv6 packet).
// Contract: open() and open_queue() are setup-time and throw std::system_error naming what
// failed; read/write/read_batch/write_batch are data-path and return errors as values
// (would-block included, see is_would_block()). The device owns its fd; the daemon may wrap fd()
// in an asio::posix::stream_descriptor but must not close it.
// Multi-queue (IFF_MULTI_QUEUE): every queue is its own TunDevice on the same interface; the
// kernel spreads flows over queues so two threads can each read one. A device opened without
// multi_queue cannot get more queues.
// Offloads (IFF_VNET_HDR, on by default for real devices): every packet on the fd is preceded
// by a virtio_net_hdr (offload.hpp). read()/write() hide it, so callers still see bare IP
// packets. enable_offload() (TUNSETOFFLOAD CSUM|TSO4|TSO6, plus USO4|USO6 where the kernel has
// them, 6.2+) lets the kernel hand over TCP (and UDP GSO) super-packets of up to 64 KiB in one
// read; read_batch() then segments them in userspace into the caller's MTU-sized buffers (a
// super-packet that does not fit stays pending for the next call), and write_gso() takes a
// coalesced super-packet back (GRO; UDP ones only when udp_offload_enabled()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <vector>

#include "platform/offload.hpp"
#include "platform/unique_fd.hpp"

namespace postern::platform {

struct TunOptions {
  // Interface name, "" for kernel-chosen ("tun0"...), or a pattern such as "postern%d".
  std::string name;
  bool multi_queue = false;
  bool nonblocking = false;
  bool vnet_hdr = true;  // IFF_VNET_HDR (needed for enable_offload(); invisible otherwise)
};

class TunDevice {
 public:
  // Opens /dev/net/tun and attaches to (or creates) the interface. Setup-time: throws.
  static TunDevice open(const TunOptions& options);
  // A fake device for tests without root: a SOCK_SEQPACKET socketpair keeps packet boundaries
  // like a TUN fd. Returns the device and the "kernel side" fd (write there to inject packets).
  static std::pair<TunDevice, UniqueFd> open_fake(std::string name);

  TunDevice() = default;

  // Opens one more queue on the same interface; requires multi_queue. Setup-time: throws.
  TunDevice open_queue() const;

  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  bool multi_queue() const { return multi_queue_; }
  bool is_open() const { return fd_.valid(); }
  std::error_code set_nonblocking(bool nonblocking);

  // Reads one packet; returns its size. A packet larger than buffer is truncated by the kernel
  // (size the buffer to the MTU plus headroom).
  std::size_t read(std::span<std::uint8_t> buffer, std::error_code& ec);
  // Writes one whole IP packet; returns bytes written (== packet.size() on success).
  std::size_t write(std::span<const std::uint8_t> packet, std::error_code& ec);

  // Reads up to buffers.size() packets, stopping at the first would-block; sizes[i] receives
  // the length of packet i. Returns the count; ec is set only if no packet was read.
  // Use on a nonblocking device (on a blocking one it stops after the first packet).
  std::size_t read_batch(std::span<const std::span<std::uint8_t>> buffers,
                         std::span<std::size_t> sizes, std::error_code& ec);
  // Writes packets in order; returns how many were written, ec describes the first failure.
  std::size_t write_batch(std::span<const std::span<const std::uint8_t>> packets,
                          std::error_code& ec);

  // Setup-time: turns on TSO/checksum offload (needs vnet_hdr). Returns an error (and changes
  // nothing) on a fake device or a kernel that refuses; the device then works as before.
  std::error_code enable_offload();
  bool offload_enabled() const { return offload_; }
  // The kernel also took TUN_F_USO4|USO6: UDP GSO super-packets may be read and written.
  bool udp_offload_enabled() const { return udp_offload_; }
  // Segments of a super-packet are waiting for the next read_batch(). poll() on fd() cannot see
  // them: a reader must not wait for readability while this is true.
  bool has_pending() const { return gso_next_ < gso_segments_; }
  // Writes one packet with its virtio_net_hdr (a GRO super-packet from GroCoalescer, or a plain
  // packet with a zero header). Requires vnet_hdr.
  std::size_t write_gso(const VnetHeader& header, std::span<const std::uint8_t> packet, std::error_code& ec);
  // Super-packets (or NEEDS_CSUM packets) the kernel gave us that could not be segmented.
  std::uint64_t offload_drops() const { return offload_drops_; }

 private:
  TunDevice(UniqueFd fd, std::string name, bool multi_queue, bool fake, bool vnet_hdr)
      : fd_(std::move(fd)), name_(std::move(name)), multi_queue_(multi_queue), fake_(fake), vnet_hdr_(vnet_hdr) {}

  std::size_t read_raw(std::span<std::uint8_t> buffer, VnetHeader& header, std::error_code& ec);
  bool next_segment(std::span<std::uint8_t> buffer, std::size_t& size);

  UniqueFd fd_;
  std::string name_;
  bool multi_queue_ = false;
  bool fake_ = false;
  bool nonblocking_ = false;
  bool vnet_hdr_ = false;
  bool offload_ = false;
  bool udp_offload_ = false;
  // The super-packet being segmented (offload only): allocated once by enable_offload().
  std::vector<std::uint8_t> gso_buffer_;
  std::size_t gso_length_ = 0;
  VnetHeader gso_header_;
  std::size_t gso_next_ = 0, gso_segments_ = 0;
  std::uint64_t offload_drops_ = 0;
};

}  // namespace postern::platform
