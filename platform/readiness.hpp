// Waiting on the data path: poll(2) for one descriptor, optionally with a Wakeup (an eventfd(2))
// that another thread signals when it left work for the waiting one.
// Contract: no allocation; errors other than EINTR end a wait as "not ready" (the caller's loop
// comes back, as after a timeout).
#pragma once

#include "platform/unique_fd.hpp"

#include <chrono>

namespace postern::platform {

class Wakeup {
 public:
  Wakeup();  // throws std::system_error when eventfd() fails
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Makes the next (or current) wait_readable() on this Wakeup return. Async-signal-safe.
  void signal() noexcept;
  int fd() const noexcept { return fd_.get(); }

 private:
  friend bool wait_readable(int fd, std::chrono::milliseconds timeout, Wakeup* wakeup);
  void clear() noexcept;
  UniqueFd fd_;
};

// True when `fd` became readable, or `wakeup` (if any) was signalled (the signal is consumed),
// before `timeout`.
bool wait_readable(int fd, std::chrono::milliseconds timeout, Wakeup* wakeup = nullptr);
// True when `fd` became writable before `timeout`.
bool wait_writable(int fd, std::chrono::milliseconds timeout);

}  // namespace postern::platform
