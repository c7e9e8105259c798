// Kernel tunables under /proc/sys (sysctl(8) without running it), and the checks the daemon
// makes at startup, e.g. warning when a server cannot route for its clients because
// net.ipv4.ip_forward is 0.
// Contract: keys are "net.ipv4.ip_forward" (dots) or "net/ipv4/ip_forward" (slashes, needed
// when a component itself contains a dot, such as an interface name "eth0.10"); ".." and
// absolute paths are rejected. Values are returned without the trailing newline. Errors are
// values; nothing throws. Reads reflect the caller's network namespace.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "common/ip_address.hpp"

namespace postern::platform {

// "/proc/sys/net/ipv4/ip_forward" for "net.ipv4.ip_forward"; nullopt for a malformed key.
std::optional<std::string> sysctl_path(std::string_view key);

std::error_code read_sysctl(std::string_view key, std::string& value);
std::error_code write_sysctl(std::string_view key, std::string_view value);

// net.ipv4.ip_forward / net.ipv6.conf.all.forwarding == 1.
std::error_code ip_forwarding_enabled(IpAddress::Family family, bool& enabled);
std::error_code set_ip_forwarding(IpAddress::Family family, bool enabled);

}  // namespace postern::platform
