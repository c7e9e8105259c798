// UDP socket setup and batched I/O (see udp_socket.hpp). recvmmsg(2)/sendmmsg(2) amortise the
// per-syscall cost that dominates small-packet tunnels; the arrays they need are caller-owned
// so the data path allocates nothing.
#include "platform/udp_socket.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <string>

#include "platform/sys_error.hpp"

namespace postern::platform {
namespace {

std::error_code set_int_option(int fd, int level, int name, int value) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) < 0) return last_error();
  return {};
}

int pmtu_value(PathMtuDiscovery mode, bool v6) {
  switch (mode) {
    case PathMtuDiscovery::off: return v6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT;
    case PathMtuDiscovery::want: return v6 ? IPV6_PMTUDISC_WANT : IP_PMTUDISC_WANT;
    case PathMtuDiscovery::on: return v6 ? IPV6_PMTUDISC_DO : IP_PMTUDISC_DO;
    case PathMtuDiscovery::probe: return v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
  }
  return v6 ? IPV6_PMTUDISC_WANT : IP_PMTUDISC_WANT;
}

// Fills one mmsghdr to point at one datagram. msg_name may be null (connected send).
void fill_header(mmsghdr& header, iovec& vec, std::uint8_t* data, std::size_t length,
                 sockaddr_storage* name, socklen_t name_len) {
  vec.iov_base = data;
  vec.iov_len = length;
  header = {};
  header.msg_hdr.msg_iov = &vec;
  header.msg_hdr.msg_iovlen = 1;
  header.msg_hdr.msg_name = name;
  header.msg_hdr.msg_namelen = name_len;
}

}  // namespace

std::string_view to_string(PathMtuDiscovery mode) {
  switch (mode) {
    case PathMtuDiscovery::off: return "off";
    case PathMtuDiscovery::want: return "want";
    case PathMtuDiscovery::on: return "on";
    case PathMtuDiscovery::probe: return "probe";
  }
  return "?";
}

UdpSocket UdpSocket::bind(const Endpoint& local, const UdpOptions& options) {
  const int af = local.address().af();
  UniqueFd fd(::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd) throw_errno("socket(UDP)");
  const std::string where = " for " + local.to_string();
  if (af == AF_INET6) {
    throw_if(set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only ? 1 : 0),
             "setsockopt IPV6_V6ONLY" + where);
  }
  if (options.reuse_address) {
    throw_if(set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1), "setsockopt SO_REUSEADDR" + where);
  }
  if (options.mark) {
    throw_if(set_int_option(fd.get(), SOL_SOCKET, SO_MARK, static_cast<int>(*options.mark)),
             "setsockopt SO_MARK" + where);
  }
  sockaddr_storage address{};
  const socklen_t length = local.to_sockaddr(address);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) < 0) {
    throw_errno("bind udp" + where);
  }
  UdpSocket socket(std::move(fd), local.address().family());
  if (options.nonblocking) throw_if(socket.set_nonblocking(true), "udp set nonblocking" + where);
  return socket;
}

std::error_code UdpSocket::connect(const Endpoint& remote) {
  sockaddr_storage address{};
  const socklen_t length = remote.to_sockaddr(address);
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), length) < 0) {
    return last_error();
  }
  return {};
}

std::error_code UdpSocket::local_endpoint(Endpoint& out) const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    return last_error();
  }
  auto endpoint = Endpoint::from_sockaddr(address, length);
  if (!endpoint) return std::make_error_code(std::errc::address_family_not_supported);
  out = *endpoint;
  return {};
}

std::error_code UdpSocket::set_nonblocking(bool nonblocking) {
  return set_fd_nonblocking(fd_.get(), nonblocking);
}

std::error_code UdpSocket::set_buffer_sizes(int receive_bytes, int send_bytes) {
  if (receive_bytes > 0 &&
      set_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, receive_bytes)) {
    if (auto ec = set_int_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, receive_bytes)) return ec;
  }
  if (send_bytes > 0 && set_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, send_bytes)) {
    if (auto ec = set_int_option(fd_.get(), SOL_SOCKET, SO_SNDBUF, send_bytes)) return ec;
  }
  return {};
}

std::error_code UdpSocket::buffer_sizes(int& receive_bytes, int& send_bytes) const {
  socklen_t length = sizeof(int);
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_bytes, &length) < 0) {
    return last_error();
  }
  length = sizeof(int);
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &send_bytes, &length) < 0) {
    return last_error();
  }
  return {};
}

std::error_code UdpSocket::set_mark(std::uint32_t mark) {
  return set_int_option(fd_.get(), SOL_SOCKET, SO_MARK, static_cast<int>(mark));
}

std::error_code UdpSocket::set_path_mtu_discovery(PathMtuDiscovery mode) {
  if (family_ == IpAddress::Family::v4) {
    return set_int_option(fd_.get(), IPPROTO_IP, IP_MTU_DISCOVER, pmtu_value(mode, false));
  }
  // A dual-stack IPv6 socket also sends IPv4 (v4-mapped peers): set both, IPv4 best-effort.
  set_int_option(fd_.get(), IPPROTO_IP, IP_MTU_DISCOVER, pmtu_value(mode, false));
  return set_int_option(fd_.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, pmtu_value(mode, true));
}

std::size_t UdpSocket::send_to(std::span<const std::uint8_t> payload, const Endpoint& peer,
                               std::error_code& ec) {
  sockaddr_storage address{};
  const socklen_t length = peer.to_sockaddr(address);
  for (;;) {
    const ssize_t n = ::sendto(fd_.get(), payload.data(), payload.size(), 0,
                               reinterpret_cast<const sockaddr*>(&address), length);
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) break;
  }
  ec = last_error();
  return 0;
}

std::size_t UdpSocket::send(std::span<const std::uint8_t> payload, std::error_code& ec) {
  for (;;) {
    const ssize_t n = ::send(fd_.get(), payload.data(), payload.size(), 0);
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) break;
  }
  ec = last_error();
  return 0;
}

std::size_t UdpSocket::receive_from(std::span<std::uint8_t> buffer, Endpoint& peer,
                                    std::error_code& ec) {
  sockaddr_storage address{};
  for (;;) {
    socklen_t length = sizeof(address);
    const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&address), &length);
    if (n >= 0) {
      if (auto endpoint = Endpoint::from_sockaddr(address, length)) peer = *endpoint;
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) break;
  }
  ec = last_error();
  return 0;
}

std::size_t UdpSocket::recv_batch(std::span<Datagram> datagrams, BatchScratch scratch,
                                  std::error_code& ec) {
  const std::size_t count =
      std::min({datagrams.size(), scratch.headers.size(), scratch.iovecs.size()});
  for (std::size_t i = 0; i < count; ++i) {
    Datagram& slot = datagrams[i];
    fill_header(scratch.headers[i], scratch.iovecs[i], slot.data, slot.capacity, &slot.peer,
                sizeof(slot.peer));
  }
  int received = -1;
  do {
    received = ::recvmmsg(fd_.get(), scratch.headers.data(), static_cast<unsigned>(count),
                          MSG_WAITFORONE, nullptr);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    ec = last_error();
    return 0;
  }
  for (int i = 0; i < received; ++i) {
    const auto index = static_cast<std::size_t>(i);
    const mmsghdr& header = scratch.headers[index];
    Datagram& slot = datagrams[index];
    slot.size = header.msg_len;
    slot.peer_len = header.msg_hdr.msg_namelen;
    slot.truncated = (header.msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  ec.clear();
  return static_cast<std::size_t>(received);
}

std::size_t UdpSocket::send_batch(std::span<const Datagram> datagrams, BatchScratch scratch,
                                  std::error_code& ec) {
  const std::size_t count =
      std::min({datagrams.size(), scratch.headers.size(), scratch.iovecs.size()});
  for (std::size_t i = 0; i < count; ++i) {
    const Datagram& slot = datagrams[i];
    // sendmmsg takes non-const pointers but only reads through them.
    fill_header(scratch.headers[i], scratch.iovecs[i], slot.data, slot.size,
                slot.peer_len > 0 ? const_cast<sockaddr_storage*>(&slot.peer) : nullptr,
                slot.peer_len);
  }
  // sendmmsg stops at the first failing datagram and reports only the successes; calling again
  // from there surfaces that datagram's errno.
  std::size_t sent = 0;
  ec.clear();
  while (sent < count) {
    const int n = ::sendmmsg(fd_.get(), scratch.headers.data() + sent,
                             static_cast<unsigned>(count - sent), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      ec = last_error();
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

}  // namespace postern::platform
