// HostPort: a host as the operator wrote it (an IP literal or a DNS name, still to be resolved)
// and a port: a client's site servers, the relay smarthosts, `postern send --server`. An address
// that is already an IP is an IpEndpoint (common/ip_address.hpp); keys that take only IP
// literals parse into that instead.
// Contract: pure text handling, no resolution, no I/O. IPv6 literals are written "[::1]:443"
// and stored without brackets; a host containing ':' must be a bracketed IPv6 literal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;

  // "host:port" or "[v6]:port", port 1..65535. The host is checked only for being non-empty,
  // bracketed iff it is an IPv6 literal; whether a name is a valid DNS name is the caller's rule.
  static std::optional<HostPort> parse(std::string_view text);
  // The same, but the ":port" may be left out ("mx.example", "[::1]"): then default_port.
  static std::optional<HostPort> parse(std::string_view text, std::uint16_t default_port);

  bool is_ip_literal() const;
  std::string to_string() const;  // re-adds brackets around IPv6 hosts
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// True for a dotted-quad IPv4 or an IPv6 literal (without brackets), in IpAddress::parse's syntax.
bool is_ip_literal(std::string_view host);

}  // namespace postern
