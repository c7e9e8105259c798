// SO_MARK on an arbitrary socket fd (see socket_mark.hpp).
#include "platform/socket_mark.hpp"

#include "platform/sys_error.hpp"

#include <sys/socket.h>

namespace postern::platform {

std::error_code set_socket_mark(int fd, std::uint32_t mark) {
  // SO_MARK takes a u32 through an int-sized option; the kernel reads it as unsigned.
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) return last_error();
  return {};
}

std::error_code socket_mark(int fd, std::uint32_t& mark) {
  socklen_t len = sizeof mark;
  mark = 0;
  if (::getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0) return last_error();
  return {};
}

}  // namespace postern::platform
