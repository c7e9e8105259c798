// The real datagram port (see datagram_port.hpp).
#include "tunnel/daemon/datagram_port.hpp"

#include "common/log.hpp"

namespace postern::tunnel::daemon {

void UdpPort::prepare(bool offload) {
  socket_.set_nonblocking(true);
  socket_.set_buffer_sizes(4 << 20, 4 << 20);
  if (!offload) return;
  socket_.set_gso(true);  // falls back by itself if the route refuses
  if (auto ec = socket_.enable_gro()) log::info("tunnel", "", "udp_gro_unavailable", {{"error", ec.message()}});
}

}  // namespace postern::tunnel::daemon
