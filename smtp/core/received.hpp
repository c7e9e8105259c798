// The trace header the session prepends to every message (RFC 5321 4.4, RFC 3848 "with" types)
// and the RFC 5322 3.3 date it ends with.
// Contract: pure formatting; the caller passes the time (the core never reads a clock). Values
// that came from the peer are sanitized so the header stays one well-formed field, folded at
// <= 78 characters per line (RFC 5322 2.1.1) with CRLF + TAB.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

struct ReceivedInfo {
  std::string helo;
  std::string peer_ip;
  std::string hostname;
  bool esmtp = true;
  bool tls = false;
  std::string tls_version;
  std::string tls_cipher;
  std::string auth_user;    // "" if not authenticated
  std::string tunnel_user;  // "" if unknown
  std::string queue_id;
  std::string recipient;  // named in "for <...>" only when there is exactly one ("" otherwise)
  std::chrono::system_clock::time_point time;
};

// "Thu, 27 Nov 2026 20:41:07 +0000" (UTC).
std::string format_rfc5322_date(std::chrono::system_clock::time_point time);
// "Received: ..." folded, ending with CRLF.
std::string build_received(const ReceivedInfo& info);
// Greedy folding of space-separated tokens (a token never splits); each line <= width chars
// unless one token alone is longer. Ends with CRLF.
std::string fold_tokens(const std::vector<std::string>& tokens, std::size_t width = 78);

}  // namespace postern::smtp
