// HandshakeLimiter: how many unauthenticated control connections (TCP accepted, TLS handshake
// or HELLO/AUTH not yet done) the server holds, in total and per source (IPv4 address or IPv6
// /64, auth::source_key). Each such connection holds a descriptor and a TLS state for up to the
// handshake and negotiation timeouts, so without a bound a few hosts exhaust the descriptor
// table and every other listener with it. Sans-I/O, no clock: the adapter calls admit() on
// accept (refused: close at once) and release() when the connection authenticates or ends.
// Memory: one map entry per source with a pending connection, so at most max_total entries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace postern::auth {

struct HandshakeLimits {
  std::size_t max_total = 512;      // pending handshakes on the control port
  std::size_t max_per_source = 16;  // from one IPv4 address / IPv6 /64
};

class HandshakeLimiter {
 public:
  enum class Verdict { admitted, total_limit, source_limit };

  explicit HandshakeLimiter(HandshakeLimits limits = {}) : limits_(limits) {}

  // On admitted the caller owes exactly one release() with the same address.
  Verdict admit(std::string_view peer_ip);
  void release(std::string_view peer_ip);

  std::size_t pending() const { return total_; }
  std::size_t pending_from(std::string_view peer_ip) const;
  std::size_t sources() const { return per_source_.size(); }
  const HandshakeLimits& limits() const { return limits_; }

 private:
  HandshakeLimits limits_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_source_;
};

std::string_view to_string(HandshakeLimiter::Verdict verdict);

}  // namespace postern::auth
