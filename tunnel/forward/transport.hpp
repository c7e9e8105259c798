// Which path a session's sealed data-channel frames travel: the UDP data channel, or inside the
// TLS control connection as DATA messages (the fallback for networks that block UDP). The frames
// are the same bytes either way (same keys, counters and replay window), so switching loses
// nothing and needs no handshake.
#pragma once

#include <cstdint>
#include <string_view>

namespace postern::tunnel::forward {

enum class Transport : std::uint8_t { udp, tls };

constexpr std::string_view to_string(Transport t) { return t == Transport::udp ? "udp" : "tls"; }

}  // namespace postern::tunnel::forward
