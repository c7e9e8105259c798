// HandshakeLimiter (see handshake_limiter.hpp).
#include "auth/handshake_limiter.hpp"

#include "auth/throttle.hpp"

namespace postern::auth {

HandshakeLimiter::Verdict HandshakeLimiter::admit(std::string_view peer_ip) {
  if (total_ >= limits_.max_total) return Verdict::total_limit;
  std::string key = source_key(peer_ip);
  auto it = per_source_.find(key);
  if (it != per_source_.end() && it->second >= limits_.max_per_source) return Verdict::source_limit;
  if (limits_.max_per_source == 0) return Verdict::source_limit;
  if (it == per_source_.end()) it = per_source_.emplace(std::move(key), 0).first;
  ++it->second;
  ++total_;
  return Verdict::admitted;
}

void HandshakeLimiter::release(std::string_view peer_ip) {
  auto it = per_source_.find(source_key(peer_ip));
  if (it == per_source_.end()) return;  // never admitted: nothing to give back
  if (--it->second == 0) per_source_.erase(it);
  if (total_ > 0) --total_;
}

std::size_t HandshakeLimiter::pending_from(std::string_view peer_ip) const {
  auto it = per_source_.find(source_key(peer_ip));
  return it == per_source_.end() ? 0 : it->second;
}

std::string_view to_string(HandshakeLimiter::Verdict verdict) {
  switch (verdict) {
    case HandshakeLimiter::Verdict::admitted: return "admitted";
    case HandshakeLimiter::Verdict::total_limit: return "too many pending handshakes";
    case HandshakeLimiter::Verdict::source_limit: return "too many pending handshakes from this source";
  }
  return "unknown";
}

}  // namespace postern::auth
