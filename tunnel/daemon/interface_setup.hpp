// Applies what negotiation decided to the TUN interface through rtnetlink (platform/netlink):
// address/prefix, MTU, link up, and routes. Throws std::runtime_error naming the interface and
// what the kernel refused; used at startup (server) and after each negotiation (client).
#pragma once

#include "platform/netlink.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace postern::tunnel::daemon {

struct InterfaceSettings {
  std::string name;
  std::uint32_t address = 0;  // host order
  std::uint8_t prefix_len = 32;
  std::uint32_t mtu = 1400;
  struct Route {
    std::uint32_t network = 0;  // host order
    std::uint8_t prefix_len = 0;
  };
  std::vector<Route> routes;  // routes inside the address's own prefix are implied and skipped
};

void configure_interface(platform::Netlink& netlink, const InterfaceSettings& settings);

platform::IpAddress to_ip_address(std::uint32_t host_order);

}  // namespace postern::tunnel::daemon
