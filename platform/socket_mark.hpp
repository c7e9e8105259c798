// set_socket_mark: SO_MARK (socket(7)) on any socket fd, for sockets the platform layer does not
// own (the daemon's Asio TCP control socket). The mark is what policy-routing rules
// (`ip rule ... fwmark`) match on, so the tunnel's own traffic can be routed around the tunnel
// (leak protection, docs/resilience.md). UdpSocket has its own UdpOptions.mark / set_mark.
// Contract: one setsockopt, errno returned as std::error_code (EPERM without CAP_NET_ADMIN);
// never throws. Set it before connect()/bind() so the very first route lookup sees the mark.
#pragma once

#include <cstdint>
#include <system_error>

namespace postern::platform {

std::error_code set_socket_mark(int fd, std::uint32_t mark);

// The mark currently set on fd (0 = none), for tests and diagnostics.
std::error_code socket_mark(int fd, std::uint32_t& mark);

}  // namespace postern::platform
