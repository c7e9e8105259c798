// TUN device setup and packet I/O (see tun_device.hpp). The kernel interface is
// Documentation/networking/tuntap.rst: open /dev/net/tun, then TUNSETIFF with an ifreq naming
// the interface and the flags.
#include "platform/tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <sys/uio.h>

#include <array>
#include <cstring>

#include "platform/sys_error.hpp"

namespace postern::platform {
namespace {

constexpr const char* k_clone_device = "/dev/net/tun";
// UDP segmentation offload through the TUN (Linux 6.2, include/uapi/linux/if_tun.h); older
// headers lack the names, older kernels refuse the bits with EINVAL.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
// One GSO super-packet: IPv4 total length is 16 bits; a read that fills the buffer completely
// may have been truncated and is dropped by segment_count's length checks at worst.
constexpr std::size_t kGsoBufferSize = 65536 + 256;

UniqueFd attach_queue(std::string& name, bool multi_queue, bool vnet_hdr) {
  if (name.size() >= IFNAMSIZ) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "tun name too long: " + name);
  }
  UniqueFd fd(::open(k_clone_device, O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno(std::string("open ") + k_clone_device);

  ifreq request{};
  // IFF_NO_PI: no struct tun_pi before each packet, reads and writes are bare IP packets.
  // IFF_VNET_HDR: a struct virtio_net_hdr before each packet (offload.hpp), hidden by read/write.
  request.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0) |
                                         (vnet_hdr ? IFF_VNET_HDR : 0));
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &request) < 0) {
    throw_errno("TUNSETIFF " + (name.empty() ? std::string("(kernel-chosen)") : name));
  }
  // The kernel writes back the final name (pattern "%d" resolved).
  name.assign(request.ifr_name, ::strnlen(request.ifr_name, IFNAMSIZ));
  return fd;
}

}  // namespace

TunDevice TunDevice::open(const TunOptions& options) {
  std::string name = options.name;
  UniqueFd fd = attach_queue(name, options.multi_queue, options.vnet_hdr);
  TunDevice device(std::move(fd), std::move(name), options.multi_queue, false, options.vnet_hdr);
  if (options.nonblocking) throw_if(device.set_nonblocking(true), "tun set nonblocking");
  return device;
}

std::pair<TunDevice, UniqueFd> TunDevice::open_fake(std::string name) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    throw_errno("socketpair for fake tun");
  }
  return {TunDevice(UniqueFd(fds[0]), std::move(name), false, true, false), UniqueFd(fds[1])};
}

TunDevice TunDevice::open_queue() const {
  if (!multi_queue_ || fake_) {
    throw std::system_error(std::make_error_code(std::errc::operation_not_supported),
                            "open extra queue on " + name_ + " (not opened with multi_queue)");
  }
  std::string name = name_;
  UniqueFd fd = attach_queue(name, true, vnet_hdr_);
  TunDevice queue(std::move(fd), std::move(name), true, false, vnet_hdr_);
  if (offload_) throw_if(queue.enable_offload(), "tun queue enable offload");
  if (nonblocking_) throw_if(queue.set_nonblocking(true), "tun queue set nonblocking");
  return queue;
}

std::error_code TunDevice::set_nonblocking(bool nonblocking) {
  auto ec = set_fd_nonblocking(fd_.get(), nonblocking);
  if (!ec) nonblocking_ = nonblocking;
  return ec;
}

std::size_t TunDevice::read_raw(std::span<std::uint8_t> buffer, VnetHeader& header, std::error_code& ec) {
  std::array<std::uint8_t, VnetHeader::kSize> raw{};
  std::array<iovec, 2> parts{{{raw.data(), raw.size()}, {buffer.data(), buffer.size()}}};
  const int count = vnet_hdr_ ? 2 : 1;
  for (;;) {
    const ssize_t n = ::readv(fd_.get(), parts.data() + (2 - count), count);
    if (n >= 0) {
      ec.clear();
      if (!vnet_hdr_) return static_cast<std::size_t>(n);
      header = VnetHeader::decode(raw);
      return static_cast<std::size_t>(n) < raw.size() ? 0 : static_cast<std::size_t>(n) - raw.size();
    }
    if (errno == EINTR) continue;
    ec = last_error();
    return 0;
  }
}

std::size_t TunDevice::read(std::span<std::uint8_t> buffer, std::error_code& ec) {
  if (offload_) {
    std::array<std::span<std::uint8_t>, 1> one{buffer};
    std::array<std::size_t, 1> size{};
    return read_batch(one, size, ec) == 1 ? size[0] : 0;
  }
  VnetHeader ignored;
  return read_raw(buffer, ignored, ec);
}

std::size_t TunDevice::write(std::span<const std::uint8_t> packet, std::error_code& ec) {
  if (vnet_hdr_) return write_gso(VnetHeader{}, packet, ec);
  for (;;) {
    const ssize_t n = ::write(fd_.get(), packet.data(), packet.size());
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = last_error();
    return 0;
  }
}

std::size_t TunDevice::write_gso(const VnetHeader& header, std::span<const std::uint8_t> packet, std::error_code& ec) {
  if (!vnet_hdr_) {
    ec = std::make_error_code(std::errc::operation_not_supported);
    return 0;
  }
  std::array<std::uint8_t, VnetHeader::kSize> raw{};
  header.encode(raw);
  // writev only reads through iov_base.
  std::array<iovec, 2> parts{{{raw.data(), raw.size()}, {const_cast<std::uint8_t*>(packet.data()), packet.size()}}};
  for (;;) {
    const ssize_t n = ::writev(fd_.get(), parts.data(), 2);
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n) < raw.size() ? 0 : static_cast<std::size_t>(n) - raw.size();
    }
    if (errno == EINTR) continue;
    ec = last_error();
    return 0;
  }
}

std::error_code TunDevice::enable_offload() {
  if (!vnet_hdr_ || fake_) return std::make_error_code(std::errc::operation_not_supported);
  // TUN_F_CSUM is required by the TSO/USO flags; without TUN_F_TSO_ECN the kernel segments
  // ECN-marked TCP itself. USO (UDP GSO) is asked for first and dropped if this kernel refuses.
  const unsigned long tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  udp_offload_ = ::ioctl(fd_.get(), TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) == 0;
  if (!udp_offload_ && ::ioctl(fd_.get(), TUNSETOFFLOAD, tcp) < 0) return last_error();
  gso_buffer_.assign(kGsoBufferSize, 0);
  offload_ = true;
  return {};
}

// Copies the next segment of the pending super-packet into buffer. False when none is pending.
bool TunDevice::next_segment(std::span<std::uint8_t> buffer, std::size_t& size) {
  while (gso_next_ < gso_segments_) {
    Offload result = Offload::ok;
    size = write_segment(gso_header_, std::span(gso_buffer_.data(), gso_length_), gso_next_++, buffer, result);
    if (result == Offload::ok) return true;
    ++offload_drops_;  // the rest of this super-packet goes too: its segments would be out of order
    gso_next_ = gso_segments_;
  }
  return false;
}

std::size_t TunDevice::read_batch(std::span<const std::span<std::uint8_t>> buffers,
                                  std::span<std::size_t> sizes, std::error_code& ec) {
  const std::size_t limit = buffers.size() < sizes.size() ? buffers.size() : sizes.size();
  std::size_t count = 0;
  ec.clear();
  while (count < limit) {
    if (offload_ && next_segment(buffers[count], sizes[count])) {
      ++count;
      continue;
    }
    // A blocking fd would wait for the next packet; return what we have instead. The flag may
    // also have been set behind our back (Asio sets O_NONBLOCK on descriptors it wraps).
    if (count > 0 && !nonblocking_ && (::fcntl(fd_.get(), F_GETFL) & O_NONBLOCK) == 0) break;
    std::error_code read_ec;
    if (!offload_) {
      VnetHeader ignored;
      sizes[count] = read_raw(buffers[count], ignored, read_ec);
    } else {
      gso_length_ = read_raw(std::span(gso_buffer_), gso_header_, read_ec);
      Offload result = Offload::ok;
      gso_segments_ = read_ec ? 0 : segment_count(gso_header_, std::span(gso_buffer_.data(), gso_length_), result);
      gso_next_ = 0;
      if (!read_ec && result != Offload::ok) ++offload_drops_;
    }
    if (read_ec) {
      if (count == 0) ec = read_ec;
      break;
    }
    if (!offload_) ++count;
  }
  return count;
}

std::size_t TunDevice::write_batch(std::span<const std::span<const std::uint8_t>> packets,
                                   std::error_code& ec) {
  ec.clear();
  std::size_t count = 0;
  for (const auto& packet : packets) {
    write(packet, ec);
    if (ec) break;
    ++count;
  }
  return count;
}

}  // namespace postern::platform
