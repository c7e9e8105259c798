// Small value parsers shared by the configuration loader and the tools: IPv4 addresses and
// CIDRs, endpoints, durations and sizes. Pure functions of their text; nullopt on any error.
// (The types live in common/config.hpp; this header only exposes the endpoint helpers the
// loader needs beyond the ones declared there.)
#pragma once

#include "common/config.hpp"

#include <optional>
#include <string_view>

namespace postern::config {

// "host:port" or "[v6]:port"; port 1..65535. Host is not validated beyond being non-empty and
// not an unbracketed IPv6 literal.
std::optional<Endpoint> parse_endpoint(std::string_view text);
// True for a dotted-quad IPv4 or an IPv6 literal (without brackets).
bool is_ip_literal(std::string_view host);

}  // namespace postern::config
