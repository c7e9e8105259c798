// Whether a listener could bind an address now: a socket of the given type is bound (with
// SO_REUSEADDR, as the daemons' listeners are) and closed at once. For setup-time checks that
// name the config key before a listener fails with a bare errno (`postern check-config`, the
// server's preflight). Contract: no state is kept; the error is returned as a value.
#pragma once

#include "common/ip_address.hpp"

#include <system_error>

namespace postern::platform {

enum class Transport { tcp, udp };

// Empty on success; EADDRNOTAVAIL (not an address of this host), EADDRINUSE, EACCES (a port
// below 1024 without CAP_NET_BIND_SERVICE)... otherwise.
std::error_code probe_bind(const IpEndpoint& endpoint, Transport transport);

}  // namespace postern::platform
