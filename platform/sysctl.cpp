// /proc/sys access (see sysctl.hpp). Plain open/read/write: a sysctl write must be a single
// write(2) call, which iostreams do not promise.
#include "platform/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace postern::platform {
namespace {

std::string_view forwarding_key(IpAddress::Family family) {
  return family == IpAddress::Family::v4 ? "net.ipv4.ip_forward" : "net/ipv6/conf/all/forwarding";
}

}  // namespace

std::optional<std::string> sysctl_path(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.front() == '.' || key.back() == '/' ||
      key.back() == '.') {
    return std::nullopt;
  }
  std::string relative(key);
  // Slashes present: components may contain dots, take the key as a path.
  if (relative.find('/') == std::string::npos) std::replace(relative.begin(), relative.end(), '.', '/');
  if (relative.find("..") != std::string::npos || relative.find("//") != std::string::npos) {
    return std::nullopt;
  }
  return "/proc/sys/" + relative;
}

std::error_code read_sysctl(std::string_view key, std::string& value) {
  const auto path = sysctl_path(key);
  if (!path) return std::make_error_code(std::errc::invalid_argument);
  UniqueFd fd(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return last_error();
  value.clear();
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    value.append(buffer, static_cast<std::size_t>(n));
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return {};
}

std::error_code write_sysctl(std::string_view key, std::string_view value) {
  const auto path = sysctl_path(key);
  if (!path) return std::make_error_code(std::errc::invalid_argument);
  UniqueFd fd(::open(path->c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return last_error();
  const std::string line = std::string(value) + "\n";
  ssize_t n = -1;
  do {
    n = ::write(fd.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return last_error();
  if (static_cast<std::size_t>(n) != line.size()) return std::make_error_code(std::errc::io_error);
  return {};
}

std::error_code ip_forwarding_enabled(IpAddress::Family family, bool& enabled) {
  std::string value;
  if (auto ec = read_sysctl(forwarding_key(family), value)) return ec;
  enabled = value == "1";
  return {};
}

std::error_code set_ip_forwarding(IpAddress::Family family, bool enabled) {
  return write_sysctl(forwarding_key(family), enabled ? "1" : "0");
}

}  // namespace postern::platform
