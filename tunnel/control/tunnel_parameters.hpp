// What a finished negotiation hands to the daemon (Established{TunnelParameters}): everything
// needed to configure the TUN device, routes, and the data channel. Plain data, no secrets (the
// data-channel keys are exported from TLS by the daemon, not carried here).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cipher.hpp"
#include "common/dns_name.hpp"
#include "common/ip_address.hpp"

namespace postern::tunnel::control {

// Data-channel AEAD (common/cipher.hpp), numbered as on the wire (HELLO cipher list,
// DATA_CHANNEL chosen cipher).
using ::postern::Cipher;

constexpr std::uint32_t kMaxSessionId = 0xffffff;  // session ids are 24-bit (GRE key space)

struct TunnelParameters {
  // Session ids: "local" is the id this side receives on (put in the GRE key by the peer),
  // "peer" is the id the peer receives on (this side puts it in outgoing packets). 24-bit.
  std::uint32_t local_session_id = 0;
  std::uint32_t peer_session_id = 0;

  IpAddress client_address;             // the address assigned to the client's TUN
  std::uint8_t prefix_len = 32;    // prefix of the tunnel network (pool prefix)
  IpAddress server_address;             // server's tunnel address (first host of the pool)
  std::uint16_t mtu = 1400;        // TUN MTU both sides agreed on (LCP)
  std::chrono::seconds keepalive{10};   // echo interval (LCP)
  std::chrono::seconds dead_peer{60};   // silence after which the peer is declared dead (LCP)
  // Inner IPv6 (IPCP address6/prefix6_len/server_address6): set when the client asked for it
  // and the server has a pool6; nullopt: the session carries IPv4 only.
  std::optional<IpAddress> client_address6;
  std::uint8_t prefix6_len = 128;       // prefix of the IPv6 tunnel network (pool6 prefix)
  IpAddress server_address6;            // server's inner IPv6 address (first host of pool6)
  std::vector<IpPrefix> routes;        // routes the client installs via the tunnel (IPCP), both families
  std::vector<IpAddress> dns;           // DNS servers for the client (IPCP), both families
  std::vector<dns::Domain> domains;  // search / routing-only ("~") DNS domains (IPCP)

  Cipher cipher = Cipher::aes_256_gcm;  // data-channel AEAD (DATA_CHANNEL)
  std::uint16_t data_port = 0;          // server's UDP data port (DATA_CHANNEL)
  std::chrono::seconds rekey_interval{0};  // 0 = no time limit
  std::uint64_t rekey_packets = 0;         // 0 = no packet limit

  // Server side: the authenticated identity (user name if a password was used, else the
  // certificate CN). Client side: the configured user name, or empty.
  std::string identity;
  // Server side: the accounting session id the client presented in IPCP (after authentication),
  // kept by the client across reconnects and servers; empty when it sent none (older clients).
  std::string accounting_session;
};

}  // namespace postern::tunnel::control
