// Parsing and formatting of HostPort (see host_port.hpp).
#include "common/host_port.hpp"

#include <charconv>

#include "common/ip_address.hpp"

namespace postern {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  if (text.empty() || text.size() > 5 || text.front() == '+' || text.front() == '-') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Splits "host[:port]" / "[v6][:port]"; port_text is empty when absent. False if malformed.
bool split(std::string_view text, std::string_view& host, std::optional<std::string_view>& port_text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
    // Brackets are for IPv6 literals only.
    const auto address = IpAddress::parse(host);
    return address && address->is_v6();
  }
  const auto colon = text.find(':');
  host = text.substr(0, colon);
  if (colon != std::string_view::npos) {
    port_text = text.substr(colon + 1);
    if (port_text->find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
  }
  return !host.empty();
}

}  // namespace

std::optional<HostPort> HostPort::parse(std::string_view text) {
  std::string_view host;
  std::optional<std::string_view> port_text;
  if (!split(text, host, port_text) || !port_text) return std::nullopt;
  const auto port = parse_port(*port_text);
  if (!port) return std::nullopt;
  return HostPort{std::string(host), *port};
}

std::optional<HostPort> HostPort::parse(std::string_view text, std::uint16_t default_port) {
  std::string_view host;
  std::optional<std::string_view> port_text;
  if (!split(text, host, port_text)) return std::nullopt;
  if (!port_text) return HostPort{std::string(host), default_port};
  const auto port = parse_port(*port_text);
  if (!port) return std::nullopt;
  return HostPort{std::string(host), *port};
}

bool HostPort::is_ip_literal() const { return postern::is_ip_literal(host); }

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool is_ip_literal(std::string_view host) { return IpAddress::parse(host).has_value(); }

}  // namespace postern
