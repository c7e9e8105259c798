// TUN interface configuration (see interface_setup.hpp).
#include "tunnel/daemon/interface_setup.hpp"

#include "common/log.hpp"

#include <stdexcept>

namespace postern::tunnel::daemon {
namespace {

void check(std::error_code ec, platform::Netlink& netlink, const std::string& what) {
  if (!ec) return;
  std::string detail = netlink.last_error_detail();
  throw std::runtime_error(what + ": " + ec.message() + (detail.empty() ? "" : " (" + detail + ")"));
}

std::uint32_t mask_of(std::uint8_t prefix_len) {
  return prefix_len == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_len);
}

}  // namespace

platform::IpAddress to_ip_address(std::uint32_t a) {
  return platform::IpAddress::v4({static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                                  static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)});
}

void configure_interface(platform::Netlink& netlink, const InterfaceSettings& s) {
  const std::string& ifname = s.name;
  check(netlink.set_mtu(ifname, s.mtu), netlink, "set MTU of " + ifname);
  std::vector<platform::InterfaceAddress> existing;
  netlink.list_addresses(ifname, platform::IpAddress::Family::v4, existing);
  platform::InterfaceAddress wanted{{to_ip_address(s.address), s.prefix_len}, std::nullopt};
  for (const auto& a : existing) {
    if (!(a == wanted)) netlink.delete_address(ifname, a, platform::MissingPolicy::accept);
  }
  check(netlink.add_address(ifname, wanted, platform::ExistsPolicy::accept), netlink,
        "add address to " + ifname);
  check(netlink.link_up(ifname), netlink, "bring up " + ifname);
  const std::uint32_t own_mask = mask_of(s.prefix_len);
  for (const auto& r : s.routes) {
    bool implied = r.prefix_len >= s.prefix_len && (r.network & own_mask) == (s.address & own_mask);
    if (implied) continue;
    platform::RouteSpec route{{to_ip_address(r.network), r.prefix_len}, ifname, std::nullopt, std::nullopt,
                              std::nullopt};
    check(netlink.add_route(route, platform::ExistsPolicy::replace), netlink,
          "add route " + route.destination.to_string() + " via " + ifname);
  }
}

}  // namespace postern::tunnel::daemon
