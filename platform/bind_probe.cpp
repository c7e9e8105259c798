// Bind probe (see bind_probe.hpp).
#include "platform/bind_probe.hpp"

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

#include <sys/socket.h>

namespace postern::platform {

std::error_code probe_bind(const IpEndpoint& endpoint, Transport transport) {
  const int type = (transport == Transport::tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
  UniqueFd fd(::socket(endpoint.address().af(), type, 0));
  if (!fd) return last_error();
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  const socklen_t length = endpoint.to_sockaddr(storage);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) return last_error();
  // TCP: a listener elsewhere on the port conflicts only at listen(2) under SO_REUSEADDR.
  if (transport == Transport::tcp && ::listen(fd.get(), 1) != 0) return last_error();
  return {};
}

}  // namespace postern::platform
