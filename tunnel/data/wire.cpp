// Names for the wire enums (see wire.hpp).
#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

std::string_view to_string(PppProtocol protocol) {
  switch (protocol) {
    case PppProtocol::ipv4: return "ipv4";
    case PppProtocol::ipv6: return "ipv6";
    case PppProtocol::lcp: return "lcp";
  }
  return "unknown";
}

bool is_known_ppp_protocol(std::uint16_t value) {
  return value == static_cast<std::uint16_t>(PppProtocol::ipv4) ||
         value == static_cast<std::uint16_t>(PppProtocol::ipv6) ||
         value == static_cast<std::uint16_t>(PppProtocol::lcp);
}

std::string_view to_string(Suite suite) {
  switch (suite) {
    case Suite::aes_256_gcm: return "aes-256-gcm";
    case Suite::chacha20_poly1305: return "chacha20-poly1305";
  }
  return "unknown";
}

}  // namespace postern::tunnel::data
