#include "platform/readiness.hpp"

#include "platform/sys_error.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace postern::platform {
namespace {

int poll_retrying(pollfd* fds, nfds_t count, int timeout_ms) {
  for (;;) {
    const int n = ::poll(fds, count, timeout_ms);
    if (n >= 0 || errno != EINTR) return n;
  }
}

}  // namespace

Wakeup::Wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::system_error(last_error(), "eventfd");
}

void Wakeup::signal() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is already far from zero: the waiter will wake anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
}

void Wakeup::clear() noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] ssize_t n = ::read(fd_.get(), &value, sizeof value);
}

bool wait_readable(int fd, std::chrono::milliseconds timeout, Wakeup* wakeup) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {wakeup != nullptr ? wakeup->fd() : -1, POLLIN, 0}};
  const int n = poll_retrying(fds, wakeup != nullptr ? 2 : 1, static_cast<int>(timeout.count()));
  if (n <= 0) return false;
  if (wakeup != nullptr && (fds[1].revents & POLLIN) != 0) wakeup->clear();
  return true;
}

bool wait_writable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  return poll_retrying(&p, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace postern::platform
