// Parsing and formatting of IPv4 addresses, CIDR prefixes and cipher names (ipv4.hpp,
// tunnel_parameters.hpp). Strict: anything unusual is rejected rather than guessed.
#include "tunnel/control/ipv4.hpp"

#include <charconv>

#include "tunnel/control/tunnel_parameters.hpp"

namespace postern::tunnel::control {
namespace {

// Parses a decimal number of 1..3 digits at the front of `text`, advancing it.
std::optional<unsigned> take_number(std::string_view& text, unsigned max) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  std::size_t n = static_cast<std::size_t>(ptr - text.data());
  if (ec != std::errc{} || n == 0 || n > 3 || v > max) return std::nullopt;
  if (n > 1 && text[0] == '0') return std::nullopt;  // no leading zeros (octal ambiguity)
  text.remove_prefix(n);
  return v;
}

}  // namespace

std::optional<Ipv4> Ipv4::parse(std::string_view text) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    auto octet = take_number(text, 255);
    if (!octet) return std::nullopt;
    value = (value << 8) | *octet;
  }
  if (!text.empty()) return std::nullopt;
  return Ipv4{value};
}

std::string Ipv4::to_string() const {
  return std::to_string(value >> 24) + '.' + std::to_string((value >> 16) & 0xff) + '.' +
         std::to_string((value >> 8) & 0xff) + '.' + std::to_string(value & 0xff);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = Ipv4::parse(text.substr(0, slash));
  std::string_view rest = text.substr(slash + 1);
  auto prefix = take_number(rest, 32);
  if (!address || !prefix || !rest.empty()) return std::nullopt;
  Cidr c{*address, static_cast<std::uint8_t>(*prefix)};
  if ((c.network.value & ~c.mask()) != 0) return std::nullopt;  // host bits set
  return c;
}

std::string Cidr::to_string() const { return network.to_string() + '/' + std::to_string(prefix_len); }

}  // namespace postern::tunnel::control
