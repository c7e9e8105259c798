// UdpSocket: the data channel's UDP socket, with batched receive/send (recvmmsg/sendmmsg) so one
// system call moves up to N datagrams, plus the socket options the tunnel needs (buffer sizes,
// SO_MARK for leak protection, path-MTU discovery mode).
// Contract: bind() is setup-time and throws std::system_error naming what failed; everything
// else returns std::error_code and never throws or allocates. Buffers are caller-owned: a
// Datagram points at memory the caller keeps alive, and the mmsghdr/iovec arrays the kernel
// needs live in a caller-owned BatchScratch (UdpBatch<N> bundles all three, preallocated).
// The daemon may wrap fd() in Asio for readiness but must not close it.
// UDP GSO/GRO (udp(7) UDP_SEGMENT / UDP_GRO, Linux >= 4.18 / 5.0): send_batch with gso on
// sends each run of consecutive equal-size datagrams to one peer as one sendmsg carrying a
// UDP_SEGMENT cmsg (the kernel cuts it back into the same datagrams, on veth or at the NIC), and
// a socket with enable_gro() may receive several same-size datagrams of one sender as one
// buffer (Datagram::segment_size says where to cut). Both fall back to the plain path when the
// kernel or the route refuses.
// Dual stack (UdpOptions::v6_only = false on an IPv6 socket): one socket takes both families.
// Received IPv4 peers come up as AF_INET sockaddrs (the kernel's ::ffff:a.b.c.d form is
// unmapped in recv_batch/receive_from), and AF_INET peers may be sent to directly; GSO and GRO
// work for both families on it (udp(7): UDP_SEGMENT and UDP_GRO are per socket, not per family).
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>

#include "common/ip_address.hpp"
#include "platform/unique_fd.hpp"

namespace postern::platform {

// One datagram slot of a batch. For receive: data/capacity set by the caller, size/peer/
// truncated filled in. For send: data/size/peer set by the caller (peer_len 0 on a connected
// socket sends to the connected peer).
struct Datagram {
  std::uint8_t* data = nullptr;
  std::size_t capacity = 0;
  std::size_t size = 0;
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
  bool truncated = false;  // MSG_TRUNC: the datagram was larger than capacity
  // Receive with enable_gro(): > 0 when data holds several datagrams of segment_size bytes each
  // (the last may be shorter), coalesced by the kernel; 0 for one datagram.
  std::size_t segment_size = 0;

  void set_buffer(std::span<std::uint8_t> buffer) {
    data = buffer.data();
    capacity = buffer.size();
  }
  std::span<std::uint8_t> payload() const { return {data, size}; }
  std::optional<IpEndpoint> endpoint() const { return IpEndpoint::from_sockaddr(peer, peer_len); }
  void set_peer(const IpEndpoint& endpoint) { peer_len = endpoint.to_sockaddr(peer); }
};

// Kernel-facing scratch for one batch call; must hold at least as many entries as datagrams
// (extra datagrams are ignored).
// Room for one UDP_SEGMENT / UDP_GRO control message per header.
struct alignas(cmsghdr) ControlSlot {
  std::array<unsigned char, CMSG_SPACE(sizeof(int))> bytes{};
};

struct BatchScratch {
  std::span<mmsghdr> headers;
  std::span<iovec> iovecs;
  std::span<ControlSlot> controls = {};  // needed for GSO sends and GRO receives
};

// Preallocated batch of N slots; allocate it once per reader/writer (it is ~N * 200 bytes).
template <std::size_t N>
struct UdpBatch {
  std::array<Datagram, N> datagrams{};
  std::array<mmsghdr, N> headers{};
  std::array<iovec, N> iovecs{};
  std::array<ControlSlot, N> controls{};

  BatchScratch scratch() { return {headers, iovecs, controls}; }
  // Points slot i at storage[i*slot_size, (i+1)*slot_size); storage must hold N slots.
  void attach(std::span<std::uint8_t> storage, std::size_t slot_size) {
    for (std::size_t i = 0; i < N && (i + 1) * slot_size <= storage.size(); ++i) {
      datagrams[i].set_buffer(storage.subspan(i * slot_size, slot_size));
    }
  }
};

// IP_MTU_DISCOVER / IPV6_MTU_DISCOVER modes (ip(7)).
enum class PathMtuDiscovery {
  off,    // IP_PMTUDISC_DONT: never set DF, the kernel fragments
  want,   // IP_PMTUDISC_WANT: the kernel default, DF per route
  on,     // IP_PMTUDISC_DO: always DF, oversized sends fail with EMSGSIZE
  probe,  // IP_PMTUDISC_PROBE: DF but ignore the learned path MTU (for probing)
};
std::string_view to_string(PathMtuDiscovery mode);

struct UdpOptions {
  bool nonblocking = false;
  bool reuse_address = false;
  // For an IPv6 bind: true refuses IPv4 (IPV6_V6ONLY=1); false makes the socket dual-stack
  // (IPv4 peers then appear as AF_INET, see the file comment). Set either way, never left to
  // the net.ipv6.bindv6only sysctl.
  bool v6_only = true;
  std::optional<std::uint32_t> mark;  // SO_MARK, set before bind so every route lookup sees it
};

class UdpSocket {
 public:
  // Creates a socket of local's family and binds it (port 0: kernel-chosen). Setup-time: throws.
  static UdpSocket bind(const IpEndpoint& local, const UdpOptions& options = {});

  UdpSocket() = default;

  int fd() const { return fd_.get(); }
  bool is_open() const { return fd_.valid(); }
  IpAddress::Family family() const { return family_; }

  std::error_code connect(const IpEndpoint& remote);
  std::error_code local_endpoint(IpEndpoint& out) const;
  std::error_code set_nonblocking(bool nonblocking);
  // Tries SO_RCVBUFFORCE/SO_SNDBUFFORCE (CAP_NET_ADMIN, ignores net.core.*mem_max) and falls
  // back to SO_RCVBUF/SO_SNDBUF. 0 leaves that direction unchanged.
  std::error_code set_buffer_sizes(int receive_bytes, int send_bytes);
  // The sizes in effect (the kernel reports twice the requested value, see socket(7)).
  std::error_code buffer_sizes(int& receive_bytes, int& send_bytes) const;
  std::error_code set_mark(std::uint32_t mark);  // CAP_NET_ADMIN
  std::error_code set_path_mtu_discovery(PathMtuDiscovery mode);
  // UDP_GRO: from now on a received datagram may be several coalesced ones (segment_size).
  // Receive buffers must then hold 64 KiB, or coalesced data is cut off (truncated).
  std::error_code enable_gro();
  bool gro_enabled() const { return gro_; }
  // Lets send_batch use UDP_SEGMENT. Off after the kernel refused once (EIO: no checksum
  // offload on the route; EINVAL/ENOPROTOOPT: no UDP GSO), and the batch is sent plainly.
  void set_gso(bool on) { gso_ = on; }
  bool gso_enabled() const { return gso_; }

  std::size_t send_to(std::span<const std::uint8_t> payload, const IpEndpoint& peer,
                      std::error_code& ec);
  std::size_t send(std::span<const std::uint8_t> payload, std::error_code& ec);  // connected
  std::size_t receive_from(std::span<std::uint8_t> buffer, IpEndpoint& peer, std::error_code& ec);

  // Receives up to datagrams.size() datagrams; blocks (on a blocking socket) only for the first
  // (MSG_WAITFORONE). Returns the count; ec is set only when it is 0.
  std::size_t recv_batch(std::span<Datagram> datagrams, BatchScratch scratch,
                         std::error_code& ec);
  // Sends datagrams in order; returns how many were sent. When fewer than all, ec says why the
  // next one failed: would-block (wait for writability, resend the rest) or a per-datagram
  // error such as EMSGSIZE or ECONNREFUSED (the caller may skip that one and go on).
  std::size_t send_batch(std::span<const Datagram> datagrams, BatchScratch scratch,
                         std::error_code& ec);

  template <std::size_t N>
  std::size_t recv_batch(UdpBatch<N>& batch, std::error_code& ec) {
    return recv_batch(batch.datagrams, batch.scratch(), ec);
  }
  template <std::size_t N>
  std::size_t send_batch(UdpBatch<N>& batch, std::size_t count, std::error_code& ec) {
    return send_batch(std::span<const Datagram>(batch.datagrams.data(), count < N ? count : N),
                      batch.scratch(), ec);
  }

 private:
  UdpSocket(UniqueFd fd, IpAddress::Family family) : fd_(std::move(fd)), family_(family) {}

  std::size_t send_gso_batch(std::span<const Datagram> datagrams, BatchScratch scratch, std::error_code& ec);

  UniqueFd fd_;
  IpAddress::Family family_ = IpAddress::Family::v4;
  bool gro_ = false;
  bool gso_ = false;
};

}  // namespace postern::platform
