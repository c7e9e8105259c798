// Client side of the SMTP reply syntax (RFC 5321 4.2): an incremental reader that turns bytes
// from the server into complete (possibly multiline) replies, and the EHLO capability list.
// Contract: sans-I/O; feed() takes any split of the byte stream; a malformed reply or one past
// the limits puts the reader in the error state (the caller reports and closes), never throws.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::send {

struct Reply {
  int code = 0;                    // 200..599
  std::vector<std::string> lines;  // text after "ddd-" / "ddd ", one per line
  // The last line as the server sent it ("250 2.0.0 Ok: queued as 4F2A1"), for error messages.
  std::string last_line;
  bool positive() const { return code >= 200 && code < 400; }
  std::string text() const;  // lines joined with " "
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
  std::vector<std::string> auth_mechanisms;  // upper case
  bool has_auth(std::string_view mechanism) const;
};

// Parses the lines of a 250 reply to EHLO (the first line is the server's greeting name).
Capabilities parse_ehlo(const Reply& reply);

// "4F2A1" from "2.0.0 Ok: queued as 4F2A1"; otherwise the reply text minus any enhanced status
// code, so the user always sees something that identifies the message on the server.
std::string queue_id_of(const Reply& reply);

}  // namespace postern::tools::send
