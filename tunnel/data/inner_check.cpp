// Inner packet check (see inner_check.hpp).
#include "tunnel/data/inner_check.hpp"

namespace postern::tunnel::data {
namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

InnerVerdict check_inner_packet(std::span<const std::uint8_t> packet, std::uint32_t session_address,
                                const InnerPolicy& policy) {
  if (packet.size() < 20 || (packet[0] >> 4) != 4 || (packet[0] & 0x0F) < 5) return InnerVerdict::malformed;
  if (be32(packet.data() + 12) != session_address) return InnerVerdict::spoofed_source;
  const std::uint32_t dest = be32(packet.data() + 16);
  const bool to_other_client = (dest & policy.pool_mask) == policy.pool_network && dest != policy.server_address;
  if (to_other_client && !policy.client_to_client) return InnerVerdict::client_to_client;
  return InnerVerdict::allowed;
}

}  // namespace postern::tunnel::data
