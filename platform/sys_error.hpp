// Error helpers shared by the platform layer: errno to std::error_code, and the setup-time
// throwing form whose message names what failed ("open /dev/net/tun: Operation not permitted").
// Contract: data-path functions return std::error_code and never throw; only functions
// documented as setup-time throw std::system_error built by throw_errno/throw_if.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

namespace postern::platform {

// The current errno as a std::error_code in the system category.
inline std::error_code last_error() { return {errno, std::system_category()}; }

// True for EAGAIN/EWOULDBLOCK: "nothing to do now", a normal result on a nonblocking fd.
inline bool is_would_block(const std::error_code& ec) {
  return ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::operation_would_block;
}

// Throws std::system_error(errno, what); what() reads "<what>: <strerror>".
[[noreturn]] void throw_errno(std::string_view what);

// Throws std::system_error(ec, what) when ec is set; for setup code that prefers exceptions.
void throw_if(const std::error_code& ec, std::string_view what);

// Sets or clears O_NONBLOCK on fd.
std::error_code set_fd_nonblocking(int fd, bool nonblocking);

}  // namespace postern::platform
