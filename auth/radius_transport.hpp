// Blocking RADIUS exchange over UDP with failover: for each server in turn (starting with the
// one that answered last), send the request and wait `timeout` for a valid answer, resending the
// same packet (same Identifier and authenticator, RFC 5080 2.2.1) up to `tries` times, then
// move on. Datagrams that fail radius::check_response (forged, stale, another secret) are
// dropped and waited past; a Message-Authenticator missing from an Access-* answer counts as no
// answer. Thread-safe: each exchange has its own socket and io_context.
#pragma once

#include "auth/radius_packet.hpp"
#include "common/config.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace postern::auth::radius {

struct Exchange {
  std::optional<Packet> answer;  // a checked answer, or nullopt when no server gave one
  std::string server;            // who answered ("192.0.2.10:1812")
  std::string error;             // why not: every server's last problem, "; "-joined
};

class Transport {
 public:
  // Builds the request for one server: Identifier in, bytes and their authenticator out.
  using Build = std::function<std::vector<std::uint8_t>(std::uint8_t id, Authenticator* request_authenticator)>;

  Transport(std::vector<HostPort> servers, const SecretBytes& secret, std::chrono::milliseconds timeout,
            std::uint32_t tries, bool require_message_authenticator = true);

  Exchange exchange(Code request_code, const Build& build) const;

 private:
  std::vector<HostPort> servers_;
  const SecretBytes& secret_;
  std::chrono::milliseconds timeout_;
  std::uint32_t tries_;
  bool require_message_authenticator_;
  mutable std::atomic<std::size_t> preferred_{0};
  mutable std::atomic<std::uint8_t> next_id_{0};
};

// Fills `out` from OpenSSL's RAND_bytes (request authenticators, Acct-Session-Ids).
void random_bytes(std::span<std::uint8_t> out);

}  // namespace postern::auth::radius
