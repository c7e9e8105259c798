// Client side of the SMTP reply syntax (RFC 5321 4.2): an incremental reader that turns bytes
// from a server into complete (possibly multiline) replies, the EHLO capability list, and the
// small helpers every client needs (enhanced status code, "queued as" id).
// Used by smtp::ClientSession (the relay) and by `postern send`.
// Contract: sans-I/O; feed() takes any split of the byte stream; a malformed reply or one past
// the limits puts the reader in the error state (the caller reports and closes), never throws.
// A line ends at LF (a CR before it is dropped): replies come from the server we chose to talk
// to, and being lenient here costs nothing (nothing is forwarded from them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

struct Reply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // text after "ddd-" / "ddd ", one per line
  // The last line as the server sent it ("250 2.0.0 Ok: queued as 4F2A1"), for error messages.
  std::string last_line;
  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  std::string text() const;  // lines joined with " "
  // Every line as sent ("550-5.1.1 a" / "550 5.1.1 b"), joined with " " (for logs and DSNs).
  std::string verbatim() const;
};

class ReplyReader {
 public:
  // RFC 5321 4.5.3.1.5: reply lines are at most 512 octets; allow slack for real servers.
  static constexpr std::size_t kMaxLine = 2048;
  static constexpr std::size_t kMaxLines = 200;

  void feed(std::string_view bytes);
  // The next complete reply, if one is buffered.
  std::optional<Reply> next();
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes received but not yet part of a complete line (e.g. STARTTLS must see none).
  std::size_t pending_bytes() const { return line_.size(); }
  bool has_partial_reply() const { return !current_.lines.empty() || !line_.empty(); }
  // Complete replies not yet taken, plus any partial one.
  bool has_buffered() const { return !ready_.empty() || has_partial_reply(); }

 private:
  void consume_line(std::string_view line);

  std::string line_;
  Reply current_;
  std::deque<Reply> ready_;
  std::string error_;
};

struct Capabilities {
  bool starttls = false;
  bool pipelining = false;
  bool eightbitmime = false;    // RFC 6152
  bool enhanced_codes = false;  // RFC 2034
  bool smtputf8 = false;        // RFC 6531
  bool dsn = false;             // RFC 3461
  bool size = false;            // RFC 1870 (SIZE offered)
  std::uint64_t size_limit = 0; // RFC 1870 "SIZE n"; 0: no fixed limit announced
  std::vector<std::string> auth_mechanisms;  // upper case
  bool has_auth(std::string_view mechanism) const;
};

// Parses the lines of a 250 reply to EHLO (the first line is the server's greeting name).
Capabilities parse_ehlo(const Reply& reply);

// The RFC 3463 status code ("5.1.1") at the start of the reply's first line, or "".
std::string enhanced_code_of(const Reply& reply);

// "4F2A1" from "2.0.0 Ok: queued as 4F2A1"; otherwise the reply text minus any enhanced status
// code, so the user always sees something that identifies the message on the server.
std::string queue_id_of(const Reply& reply);

}  // namespace postern::smtp
