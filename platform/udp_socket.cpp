// UDP socket setup and batched I/O (see udp_socket.hpp). recvmmsg(2)/sendmmsg(2) amortise the
// per-syscall cost that dominates small-packet tunnels; the arrays they need are caller-owned
// so the data path allocates nothing.
#include "platform/udp_socket.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>

#include <cstring>

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

// Consecutive datagrams that one UDP_SEGMENT send can carry: same peer, equal sizes (the last
// may be shorter), at most 64 segments (UDP_MAX_SEGMENTS in 5.x/6.1) and one IP datagram's
// worth of payload.
constexpr std::size_t kMaxGsoSegments = 64;
constexpr std::size_t kMaxGsoBytes = 65000;

std::size_t gso_run(std::span<const Datagram> datagrams, std::size_t first) {
  const Datagram& head = datagrams[first];
  std::size_t end = first + 1, bytes = head.size;
  while (end < datagrams.size() && end - first < kMaxGsoSegments) {
    const Datagram& next = datagrams[end];
    if (datagrams[end - 1].size != head.size || next.size > head.size || next.size == 0 ||
        bytes + next.size > kMaxGsoBytes || next.peer_len != head.peer_len ||
        std::memcmp(&next.peer, &head.peer, head.peer_len) != 0) {
      break;
    }
    bytes += next.size;
    ++end;
  }
  return end - first;
}

// A dual-stack IPv6 socket reports an IPv4 peer as ::ffff:a.b.c.d (RFC 4291 2.5.5.2). The
// tunnel keys roaming, throttling and logs by the peer's address, so the peer is rewritten in
// place as the AF_INET sockaddr it stands for: every layer above sees one form per IPv4 peer.
// Linux sends to an AF_INET sockaddr through a dual-stack socket (udpv6_sendmsg), so nothing has
// to be mapped back on the way out. A few byte compares; no allocation.
void unmap_v4_peer(sockaddr_storage& peer, socklen_t& length) {
  if (peer.ss_family != AF_INET6 || length < static_cast<socklen_t>(sizeof(sockaddr_in6))) return;
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
  if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) return;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = v6.sin6_port;
  std::memcpy(&v4.sin_addr, &v6.sin6_addr.s6_addr[12], 4);
  peer = {};
  std::memcpy(&peer, &v4, sizeof(v4));
  length = sizeof(v4);
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

UdpSocket UdpSocket::bind(const IpEndpoint& local, const UdpOptions& options) {
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

std::error_code UdpSocket::connect(const IpEndpoint& remote) {
  sockaddr_storage address{};
  const socklen_t length = remote.to_sockaddr(address);
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), length) < 0) {
    return last_error();
  }
  return {};
}

std::error_code UdpSocket::local_endpoint(IpEndpoint& out) const {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    return last_error();
  }
  auto endpoint = IpEndpoint::from_sockaddr(address, length);
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

std::error_code UdpSocket::enable_gro() {
  if (auto ec = set_int_option(fd_.get(), SOL_UDP, UDP_GRO, 1)) return ec;
  gro_ = true;
  return {};
}

std::size_t UdpSocket::send_to(std::span<const std::uint8_t> payload, const IpEndpoint& peer,
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

std::size_t UdpSocket::receive_from(std::span<std::uint8_t> buffer, IpEndpoint& peer,
                                    std::error_code& ec) {
  sockaddr_storage address{};
  for (;;) {
    socklen_t length = sizeof(address);
    const ssize_t n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&address), &length);
    if (n >= 0) {
      if (family_ == IpAddress::Family::v6) unmap_v4_peer(address, length);
      if (auto endpoint = IpEndpoint::from_sockaddr(address, length)) peer = *endpoint;
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
    if (gro_ && i < scratch.controls.size()) {
      scratch.headers[i].msg_hdr.msg_control = scratch.controls[i].bytes.data();
      scratch.headers[i].msg_hdr.msg_controllen = scratch.controls[i].bytes.size();
    }
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
    if (family_ == IpAddress::Family::v6) unmap_v4_peer(slot.peer, slot.peer_len);
    slot.truncated = (header.msg_hdr.msg_flags & MSG_TRUNC) != 0;
    slot.segment_size = 0;
    if (header.msg_hdr.msg_controllen == 0) continue;
    for (const cmsghdr* c = CMSG_FIRSTHDR(&header.msg_hdr); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&header.msg_hdr), const_cast<cmsghdr*>(c))) {
      if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO) continue;
      int segment = 0;
      std::memcpy(&segment, CMSG_DATA(c), sizeof(segment));
      if (segment > 0 && static_cast<std::size_t>(segment) < slot.size) {
        slot.segment_size = static_cast<std::size_t>(segment);
      }
    }
  }
  ec.clear();
  return static_cast<std::size_t>(received);
}

std::size_t UdpSocket::send_gso_batch(std::span<const Datagram> datagrams, BatchScratch scratch,
                                      std::error_code& ec) {
  const std::size_t count =
      std::min({datagrams.size(), scratch.headers.size(), scratch.iovecs.size(), scratch.controls.size()});
  std::size_t groups = 0;
  for (std::size_t i = 0; i < count;) {
    const std::size_t run = gso_run(datagrams.first(count), i);
    for (std::size_t k = 0; k < run; ++k) {
      scratch.iovecs[i + k] = {datagrams[i + k].data, datagrams[i + k].size};
    }
    const Datagram& head = datagrams[i];
    mmsghdr& header = scratch.headers[groups];
    fill_header(header, scratch.iovecs[i], head.data, head.size,
                head.peer_len > 0 ? const_cast<sockaddr_storage*>(&head.peer) : nullptr, head.peer_len);
    header.msg_hdr.msg_iovlen = run;  // fill_header pointed at iovecs[i]; take the whole run
    if (run > 1) {
      ControlSlot& control = scratch.controls[groups];
      header.msg_hdr.msg_control = control.bytes.data();
      header.msg_hdr.msg_controllen = CMSG_SPACE(sizeof(std::uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&header.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto segment = static_cast<std::uint16_t>(head.size);
      std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
    }
    ++groups;
    i += run;
  }
  std::size_t done_groups = 0, sent = 0;
  ec.clear();
  while (done_groups < groups) {
    const int n = ::sendmmsg(fd_.get(), scratch.headers.data() + done_groups,
                             static_cast<unsigned>(groups - done_groups), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      ec = last_error();
      const bool refused = errno == EIO || errno == EINVAL || errno == ENOPROTOOPT;
      if (refused && scratch.headers[done_groups].msg_hdr.msg_iovlen > 1) {
        gso_ = false;  // the route or kernel cannot do UDP GSO: plain sends from now on
        return sent + send_batch(datagrams.subspan(sent), scratch, ec);
      }
      break;
    }
    for (int k = 0; k < n; ++k) sent += scratch.headers[done_groups + static_cast<std::size_t>(k)].msg_hdr.msg_iovlen;
    done_groups += static_cast<std::size_t>(n);
  }
  return sent;
}

std::size_t UdpSocket::send_batch(std::span<const Datagram> datagrams, BatchScratch scratch,
                                  std::error_code& ec) {
  if (gso_ && !scratch.controls.empty()) return send_gso_batch(datagrams, scratch, ec);
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
