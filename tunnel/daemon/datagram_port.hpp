// The UDP side of the data plane as one narrow, batched interface, so DataPlane runs over the
// real socket (UdpPort: a platform::UdpSocket) or over a fake (tests/tunnel/daemon/
// fake_network.hpp: two data planes back to back, no root, no network), the way wireguard-go's
// device runs over conn.Bind or bindtest. Virtual on purpose, and cheap: the data threads call
// it once per batch (recv_batch, send_batch; an echo reply is a batch of one), never per data
// packet; prepare() runs once at start.
// Contract (both implementations): fd() is pollable (readable: a datagram waits; writable: a send
// may go); recv_batch/send_batch behave as platform::UdpSocket's (batched, errors as values,
// nothing allocated, buffers are the caller's). Datagrams name their peer by sockaddr.
#pragma once

#include "platform/udp_socket.hpp"

#include <cstddef>
#include <span>
#include <system_error>
#include <utility>

namespace postern::tunnel::daemon {

class DatagramPort {
 public:
  virtual ~DatagramPort() = default;

  virtual int fd() const = 0;
  // Nonblocking, socket buffers and, with `offload`, UDP GSO/GRO where the kernel has them.
  virtual void prepare(bool offload) = 0;
  // Received datagrams may be GRO trains (Datagram::segment_size), so buffers must hold 64 KiB.
  virtual bool gro_enabled() const = 0;
  virtual std::size_t recv_batch(std::span<platform::Datagram> datagrams, platform::BatchScratch scratch,
                                 std::error_code& ec) = 0;
  virtual std::size_t send_batch(std::span<const platform::Datagram> datagrams, platform::BatchScratch scratch,
                                 std::error_code& ec) = 0;
};

// The real port: the data channel's UDP socket (recvmmsg/sendmmsg, GSO/GRO).
class UdpPort final : public DatagramPort {
 public:
  explicit UdpPort(platform::UdpSocket socket) : socket_(std::move(socket)) {}

  int fd() const override { return socket_.fd(); }
  void prepare(bool offload) override;
  bool gro_enabled() const override { return socket_.gro_enabled(); }
  std::size_t recv_batch(std::span<platform::Datagram> datagrams, platform::BatchScratch scratch,
                         std::error_code& ec) override {
    return socket_.recv_batch(datagrams, scratch, ec);
  }
  std::size_t send_batch(std::span<const platform::Datagram> datagrams, platform::BatchScratch scratch,
                         std::error_code& ec) override {
    return socket_.send_batch(datagrams, scratch, ec);
  }

 private:
  platform::UdpSocket socket_;
};

}  // namespace postern::tunnel::daemon
