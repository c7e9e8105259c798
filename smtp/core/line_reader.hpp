// Incremental reader for SMTP command lines (and AUTH continuation lines).
// Contract: a line ends ONLY with CRLF (RFC 5321 2.3.8). A bare CR or bare LF inside a line is
// never taken as a line end (that ambiguity is what SMTP smuggling exploits); the line is read on
// to the next CRLF and reported as bare_newline. A line longer than the limit (octets including
// the CRLF, RFC 5321 4.5.3.1.4: 512 for commands) is discarded up to the next CRLF and reported
// as too_long, so memory stays bounded whatever the peer sends.
// Secrets: AUTH lines pass through here, so the buffer is reserved once (never reallocated)
// and wiped with OPENSSL_cleanse whenever a line leaves it; the caller wipes the Line it got.
// put() stops right after the first complete line, so bytes that follow stay with the caller
// (the session needs that to detect commands pipelined after STARTTLS, RFC 3207 4.2).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postern::smtp {

enum class LineStatus { complete, bare_newline, too_long };
std::string_view to_string(LineStatus status);

struct Line {
  LineStatus status = LineStatus::complete;
  std::string text;  // without the CRLF; empty unless status == complete
};

class LineReader {
 public:
  explicit LineReader(std::size_t max_line = 512) : max_line_(max_line) { buffer_.reserve(max_line); }
  LineReader(const LineReader&) = default;
  LineReader(LineReader&&) = default;
  LineReader& operator=(const LineReader&) = default;
  LineReader& operator=(LineReader&&) = default;
  ~LineReader();

  struct Result {
    std::size_t consumed = 0;
    std::optional<Line> line;  // set when a CRLF was reached
  };
  // Consumes bytes up to and including the first CRLF (or all of input if there is none).
  Result put(std::string_view input);

  // The limit applies from the next line on (AUTH continuation lines are longer, RFC 4954 4).
  // Reserved at once, so a line never moves to a bigger buffer (leaving a copy in freed memory).
  void set_max_line(std::size_t max_line) {
    max_line_ = max_line;
    buffer_.reserve(max_line);
  }
  // Forgets a partial line (after STARTTLS the plaintext buffer is discarded, RFC 3207 4.2).
  void reset();
  bool idle() const { return buffer_.empty() && !pending_cr_ && !bare_ && !overflow_; }

 private:
  void append(char c);

  std::size_t max_line_;
  std::string buffer_;
  std::size_t length_ = 0;  // octets seen on this line, CRLF excluded
  bool pending_cr_ = false;
  bool bare_ = false;
  bool overflow_ = false;
};

}  // namespace postern::smtp
