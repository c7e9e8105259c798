// TunDevice: one queue of a Linux TUN interface carrying raw IP packets (IFF_TUN | IFF_NO_PI:
// no 4-byte packet-info header, a read returns exactly one IPv4 or IPv6 packet).
// Contract: open() and open_queue() are setup-time and throw std::system_error naming what
// failed; read/write/read_batch/write_batch are data-path and return errors as values
// (would-block included, see is_would_block()). The device owns its fd; the daemon may wrap fd()
// in an asio::posix::stream_descriptor but must not close it.
// Multi-queue (IFF_MULTI_QUEUE): every queue is its own TunDevice on the same interface; the
// kernel spreads flows over queues so two threads can each read one. A device opened without
// multi_queue cannot get more queues.
// Later IFF_VNET_HDR/GSO: the batch calls take one buffer per packet and report sizes, the
// shape wireguard-go uses, so a GSO version can split one super-packet into several buffers
// behind the same signature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "platform/unique_fd.hpp"

namespace postern::platform {

struct TunOptions {
  // Interface name, "" for kernel-chosen ("tun0"...), or a pattern such as "postern%d".
  std::string name;
  bool multi_queue = false;
  bool nonblocking = false;
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

 private:
  TunDevice(UniqueFd fd, std::string name, bool multi_queue, bool fake)
      : fd_(std::move(fd)), name_(std::move(name)), multi_queue_(multi_queue), fake_(fake) {}

  UniqueFd fd_;
  std::string name_;
  bool multi_queue_ = false;
  bool fake_ = false;
  bool nonblocking_ = false;
};

}  // namespace postern::platform
