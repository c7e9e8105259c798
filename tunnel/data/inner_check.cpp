// Inner packet check (see inner_check.hpp).
#include "tunnel/data/inner_check.hpp"

#include <array>

namespace postern::tunnel::data {
namespace {

constexpr std::size_t kIpv6Header = 40;  // RFC 8200 3

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

std::uint64_t be64(const std::uint8_t* p) { return std::uint64_t{be32(p)} << 32 | be32(p + 4); }

InnerVerdict check_ipv6(std::span<const std::uint8_t> packet, const std::optional<Ipv6Key>& session_address6,
                        const InnerPolicy& policy) {
  if (packet.size() < kIpv6Header || !session_address6) return InnerVerdict::malformed;
  if (!(Ipv6Key::load(packet.data() + 8) == *session_address6)) return InnerVerdict::spoofed_source;
  const Ipv6Key dest = Ipv6Key::load(packet.data() + 24);
  const bool in_pool6 = policy.has_pool6 && (dest.hi & policy.pool6_mask.hi) == policy.pool6_network.hi &&
                        (dest.lo & policy.pool6_mask.lo) == policy.pool6_network.lo;
  if (in_pool6 && !(dest == policy.server_address6) && !policy.client_to_client) return InnerVerdict::client_to_client;
  return InnerVerdict::allowed;
}

}  // namespace

Ipv6Key Ipv6Key::load(const std::uint8_t* p) { return {be64(p), be64(p + 8)}; }

Ipv6Key Ipv6Key::of(const IpAddress& a) {
  std::uint8_t bytes[16] = {};
  const auto b = a.bytes();
  for (std::size_t i = 0; i < b.size(); ++i) bytes[16 - b.size() + i] = b[i];
  return load(bytes);
}

IpAddress Ipv6Key::to_address() const {
  std::array<std::uint8_t, 16> bytes{};
  for (int i = 0; i < 8; ++i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
    bytes[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
  }
  return IpAddress::v6(bytes);
}

InnerVerdict check_inner_packet(std::span<const std::uint8_t> packet, std::uint32_t session_address,
                                const std::optional<Ipv6Key>& session_address6, const InnerPolicy& policy) {
  if (!packet.empty() && (packet[0] >> 4) == 6) return check_ipv6(packet, session_address6, policy);
  if (packet.size() < 20 || (packet[0] >> 4) != 4 || (packet[0] & 0x0F) < 5) return InnerVerdict::malformed;
  if (be32(packet.data() + 12) != session_address) return InnerVerdict::spoofed_source;
  const std::uint32_t dest = be32(packet.data() + 16);
  const bool to_other_client = (dest & policy.pool_mask) == policy.pool_network && dest != policy.server_address;
  if (to_other_client && !policy.client_to_client) return InnerVerdict::client_to_client;
  return InnerVerdict::allowed;
}

}  // namespace postern::tunnel::data
