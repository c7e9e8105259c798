// Implementation of the platform error helpers (see sys_error.hpp).
#include "platform/sys_error.hpp"

#include <fcntl.h>

namespace postern::platform {

void throw_errno(std::string_view what) {
  const int saved = errno;
  throw std::system_error(saved, std::system_category(), std::string(what));
}

void throw_if(const std::error_code& ec, std::string_view what) {
  if (ec) throw std::system_error(ec, std::string(what));
}

std::error_code set_fd_nonblocking(int fd, bool nonblocking) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return last_error();
  const int wanted = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && ::fcntl(fd, F_SETFL, wanted) < 0) return last_error();
  return {};
}

}  // namespace postern::platform
