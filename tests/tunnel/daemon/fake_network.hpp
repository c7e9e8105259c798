// A fake UDP network for back-to-back data-plane tests, the wireguard-go conn/bindtest idea:
// ports with an IPv4 address and port each, joined by a switch that hands a datagram to the port
// holding its destination and stamps it with the sender's current address (what recvmmsg would
// report). Each port's inbox is a SOCK_SEQPACKET socketpair, so DataPlane's poll() and batching
// work unchanged; no root, no IP socket. Faults the tests set: block (UDP blackholed both ways),
// hold (datagrams parked and released later, behind newer ones: reordering), and moving a port
// to another address (the laptop changed networks; its old address is gone).
// A datagram the switch cannot deliver (blocked, no such address, inbox full) is lost, as on a
// real network: the sender's send_batch still reports it sent.
#pragma once

#include "tunnel/daemon/datagram_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::tunnel::daemon::test {

inline sockaddr_in ipv4_endpoint(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

class FakeNetwork;

class FakePort final : public DatagramPort {
 public:
  FakePort(FakeNetwork& network, sockaddr_in address);
  ~FakePort() override;

  int fd() const override { return inbox_[0]; }
  void prepare(bool) override { ::fcntl(inbox_[0], F_SETFL, ::fcntl(inbox_[0], F_GETFL) | O_NONBLOCK); }
  bool gro_enabled() const override { return false; }
  std::size_t recv_batch(std::span<platform::Datagram> datagrams, platform::BatchScratch scratch,
                         std::error_code& ec) override;
  std::size_t send_batch(std::span<const platform::Datagram> datagrams, platform::BatchScratch scratch,
                         std::error_code& ec) override;

 private:
  friend class FakeNetwork;
  // What travels through the inbox before the payload: the sender's address.
  struct Stamp {
    sockaddr_in from;
  };

  FakeNetwork& network_;
  sockaddr_in address_;  // guarded by the network's mutex
  int inbox_[2] = {-1, -1};
};

class FakeNetwork {
 public:
  // Parked datagrams (hold()), for release().
  struct Parked {
    sockaddr_in from, to;
    std::vector<std::uint8_t> bytes;
  };

  void block(bool on) { blocked_ = on; }
  void hold(bool on) {
    std::lock_guard lock(mutex_);
    holding_ = on;
  }
  // Delivers every parked datagram now, oldest first (after whatever was sent meanwhile).
  void release() {
    std::vector<Parked> parked;
    {
      std::lock_guard lock(mutex_);
      parked.swap(parked_);
    }
    for (const Parked& p : parked) deliver(p.from, p.to, p.bytes);
  }
  void move(FakePort& port, sockaddr_in to) {
    std::lock_guard lock(mutex_);
    port.address_ = to;
  }
  std::size_t parked() {
    std::lock_guard lock(mutex_);
    return parked_.size();
  }
  std::uint64_t lost() const { return lost_.load(); }
  std::uint64_t delivered() const { return delivered_.load(); }

  // The switch: `from` is stamped on the datagram; it reaches the port now holding `to`.
  void send(const FakePort& sender, const sockaddr_storage& to, socklen_t to_len, std::span<const std::uint8_t> bytes) {
    sockaddr_in from{}, dest{};
    {
      std::lock_guard lock(mutex_);
      from = sender.address_;
    }
    if (to_len < sizeof(sockaddr_in) || to.ss_family != AF_INET) {
      ++lost_;
      return;
    }
    std::memcpy(&dest, &to, sizeof dest);
    if (blocked_) {
      ++lost_;
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (holding_) {
        parked_.push_back({from, dest, std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
        return;
      }
    }
    deliver(from, dest, bytes);
  }

 private:
  friend class FakePort;
  static bool same(const sockaddr_in& a, const sockaddr_in& b) {
    return a.sin_addr.s_addr == b.sin_addr.s_addr && a.sin_port == b.sin_port;
  }
  void deliver(const sockaddr_in& from, const sockaddr_in& to, std::span<const std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    for (FakePort* port : ports_) {
      if (!same(port->address_, to)) continue;
      FakePort::Stamp stamp{from};
      iovec iov[2] = {{&stamp, sizeof stamp}, {const_cast<std::uint8_t*>(bytes.data()), bytes.size()}};
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = 2;
      if (::sendmsg(port->inbox_[1], &m, MSG_DONTWAIT) < 0) break;  // inbox full: lost
      ++delivered_;
      return;
    }
    ++lost_;
  }

  std::mutex mutex_;
  std::vector<FakePort*> ports_;
  std::vector<Parked> parked_;
  bool holding_ = false;
  std::atomic<bool> blocked_{false};
  std::atomic<std::uint64_t> lost_{0}, delivered_{0};
};

inline FakePort::FakePort(FakeNetwork& network, sockaddr_in address) : network_(network), address_(address) {
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, inbox_) < 0) throw std::runtime_error("socketpair");
  int size = 4 << 20;
  ::setsockopt(inbox_[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  ::setsockopt(inbox_[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  std::lock_guard lock(network_.mutex_);
  network_.ports_.push_back(this);
}

inline FakePort::~FakePort() {
  {
    std::lock_guard lock(network_.mutex_);
    std::erase(network_.ports_, this);
  }
  ::close(inbox_[0]);
  ::close(inbox_[1]);
}

inline std::size_t FakePort::recv_batch(std::span<platform::Datagram> datagrams, platform::BatchScratch,
                                        std::error_code& ec) {
  std::size_t n = 0;
  ec.clear();
  for (; n < datagrams.size(); ++n) {
    platform::Datagram& d = datagrams[n];
    Stamp stamp{};
    iovec iov[2] = {{&stamp, sizeof stamp}, {d.data, d.capacity}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    const ssize_t got = ::recvmsg(inbox_[0], &m, MSG_DONTWAIT);
    if (got < 0) {
      if (n == 0) ec = std::error_code(errno, std::generic_category());
      break;
    }
    d.size = static_cast<std::size_t>(got) - sizeof stamp;
    d.truncated = (m.msg_flags & MSG_TRUNC) != 0;
    d.segment_size = 0;
    std::memset(&d.peer, 0, sizeof d.peer);
    std::memcpy(&d.peer, &stamp.from, sizeof stamp.from);
    d.peer_len = sizeof(sockaddr_in);
  }
  return n;
}

inline std::size_t FakePort::send_batch(std::span<const platform::Datagram> datagrams, platform::BatchScratch,
                                        std::error_code& ec) {
  ec.clear();
  for (const platform::Datagram& d : datagrams) network_.send(*this, d.peer, d.peer_len, {d.data, d.size});
  return datagrams.size();
}

}  // namespace postern::tunnel::daemon::test
