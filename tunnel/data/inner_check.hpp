// The server's check of an authenticated inner packet before it reaches the TUN device: an IPv4
// packet with at least a full header, from the address the session was given, and (unless
// client_to_client) not to another client of the pool. Sans-I/O and allocation-free, so the
// data path calls it per packet; the verdict names the drop counter.
#pragma once

#include <cstdint>
#include <span>

namespace postern::tunnel::data {

enum class InnerVerdict {
  allowed,
  malformed,         // shorter than an IPv4 header, not IPv4, or IHL < 5: nothing read past the end
  spoofed_source,    // source is not the session's address
  client_to_client,  // to another client's address while client_to_client is off
};

struct InnerPolicy {
  std::uint32_t pool_network = 0;  // host order
  std::uint32_t pool_mask = 0;
  std::uint32_t server_address = 0;
  bool client_to_client = false;
};

InnerVerdict check_inner_packet(std::span<const std::uint8_t> packet, std::uint32_t session_address,
                                const InnerPolicy& policy);

}  // namespace postern::tunnel::data
