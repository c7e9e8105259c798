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

}  // namespace postern::tunnel::data
