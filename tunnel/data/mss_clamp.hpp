// TCP MSS clamping for packets entering or leaving the tunnel: lowers the MSS option of IPv4 and
// IPv6 TCP SYN segments so the peers never send segments that would need fragmenting once the
// tunnel overhead (wire.hpp kOverhead + UDP + outer IP) is added.
// Contract: works in place on one IP packet; patches the TCP checksum incrementally
// (RFC 1624 eqn. 3), so an invalid checksum stays invalid; touches nothing but a well-formed,
// unfragmented (first fragment) TCP SYN with an MSS option above the limit. Never allocates.
#pragma once

#include <cstdint>
#include <span>

namespace postern::tunnel::data {

// Returns true when the MSS option was lowered to max_mss.
bool clamp_tcp_mss(std::span<std::uint8_t> ip_packet, std::uint16_t max_mss);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one changed 16-bit word.
std::uint16_t checksum_adjust(std::uint16_t checksum, std::uint16_t old_word, std::uint16_t new_word);

}  // namespace postern::tunnel::data
