// TUN device setup and packet I/O (see tun_device.hpp). The kernel interface is
// Documentation/networking/tuntap.rst: open /dev/net/tun, then TUNSETIFF with an ifreq naming
// the interface and the flags.
#include "platform/tun_device.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "platform/sys_error.hpp"

namespace postern::platform {
namespace {

constexpr const char* k_clone_device = "/dev/net/tun";

UniqueFd attach_queue(std::string& name, bool multi_queue) {
  if (name.size() >= IFNAMSIZ) {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "tun name too long: " + name);
  }
  UniqueFd fd(::open(k_clone_device, O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno(std::string("open ") + k_clone_device);

  ifreq request{};
  // IFF_NO_PI: no struct tun_pi before each packet, reads and writes are bare IP packets.
  request.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0));
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
  UniqueFd fd = attach_queue(name, options.multi_queue);
  TunDevice device(std::move(fd), std::move(name), options.multi_queue, false);
  if (options.nonblocking) throw_if(device.set_nonblocking(true), "tun set nonblocking");
  return device;
}

std::pair<TunDevice, UniqueFd> TunDevice::open_fake(std::string name) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    throw_errno("socketpair for fake tun");
  }
  return {TunDevice(UniqueFd(fds[0]), std::move(name), false, true), UniqueFd(fds[1])};
}

TunDevice TunDevice::open_queue() const {
  if (!multi_queue_ || fake_) {
    throw std::system_error(std::make_error_code(std::errc::operation_not_supported),
                            "open extra queue on " + name_ + " (not opened with multi_queue)");
  }
  std::string name = name_;
  UniqueFd fd = attach_queue(name, true);
  TunDevice queue(std::move(fd), std::move(name), true, false);
  if (nonblocking_) throw_if(queue.set_nonblocking(true), "tun queue set nonblocking");
  return queue;
}

std::error_code TunDevice::set_nonblocking(bool nonblocking) {
  auto ec = set_fd_nonblocking(fd_.get(), nonblocking);
  if (!ec) nonblocking_ = nonblocking;
  return ec;
}

std::size_t TunDevice::read(std::span<std::uint8_t> buffer, std::error_code& ec) {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = last_error();
    return 0;
  }
}

std::size_t TunDevice::write(std::span<const std::uint8_t> packet, std::error_code& ec) {
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

std::size_t TunDevice::read_batch(std::span<const std::span<std::uint8_t>> buffers,
                                  std::span<std::size_t> sizes, std::error_code& ec) {
  const std::size_t limit = buffers.size() < sizes.size() ? buffers.size() : sizes.size();
  std::size_t count = 0;
  ec.clear();
  while (count < limit) {
    std::error_code read_ec;
    sizes[count] = read(buffers[count], read_ec);
    if (read_ec) {
      if (count == 0) ec = read_ec;
      break;
    }
    ++count;
    // A blocking fd would wait for the next packet; return what we have instead. The flag may
    // also have been set behind our back (Asio sets O_NONBLOCK on descriptors it wraps).
    if (!nonblocking_ && (::fcntl(fd_.get(), F_GETFL) & O_NONBLOCK) == 0) break;
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
