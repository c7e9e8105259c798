// Incremental reader for message content: the DATA body (dot framing, RFC 5321 4.1.1.4 and
// 4.5.2) or a sequence of BDAT chunks (counted framing, RFC 3030 2).
// Contract:
// - With dot framing the end of data is ONLY <CRLF>.<CRLF>, where the leading CRLF is the end of
//   the previous line (or the start of the data). Bare CR / bare LF never end a line, so
//   "<LF>.<LF>", "<LF>.<CR><LF>", "<CR>.<CR>" and friends are ordinary content.
// - A leading "." on a line is removed (dot-unstuffing); the content is kept exactly otherwise,
//   CRLF line endings included; the CRLF before the final dot belongs to the content.
// - The reader never fails in the middle: it reads on to the end and records findings
//   (bare CR/LF seen, a text line over the limit, size over the limit) that the session turns
//   into one final reply.
// - The content is streamed, never accumulated: each put() leaves the content it decoded in a
//   buffer the caller drains with take_content() before the next put(), so the reader holds at
//   most one put()'s worth of bytes. Once the size passes max_size nothing more is given out
//   (exactly the first max_size octets were), and the caller must throw away what it got.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace postern::smtp {

enum class Framing { dot, counted };

struct DataFindings {
  bool bare_newline = false;   // a CR not followed by LF, or an LF not preceded by CR
  bool line_too_long = false;  // RFC 5321 4.5.3.1.6: text line > 1000 octets incl. CRLF
  bool too_big = false;        // content size > max_size
  bool ok() const { return !bare_newline && !line_too_long && !too_big; }
};

class DataReader {
 public:
  DataReader(Framing framing, std::uint64_t max_size, std::size_t max_line = 1000);

  struct Result {
    std::size_t consumed = 0;
    bool done = false;  // dot framing: the terminating ".CRLF" was consumed
  };
  // Dot framing: consumes up to and including the end-of-data line, never beyond.
  // Counted framing: consumes all of input (the caller passes exactly the chunk's bytes).
  Result put(std::string_view input);
  // Counted framing, at BDAT LAST: settles a trailing CR (a bare CR at the very end).
  void finish();

  const DataFindings& findings() const { return findings_; }
  std::uint64_t size() const { return size_; }  // unstuffed content octets, counted even if dropped
  // The content decoded since the last call (at most what was put() since then).
  std::string take_content() { return std::exchange(content_, {}); }

 private:
  enum class State { line_start, dot, dot_cr, in_line, cr };
  void emit(std::string_view bytes);
  void end_line();
  std::size_t scan_line(std::string_view input, std::size_t pos);

  Framing framing_;
  std::uint64_t max_size_;
  std::size_t max_line_;
  State state_ = State::line_start;
  std::size_t line_length_ = 0;  // raw octets on the current line, CRLF excluded
  std::uint64_t size_ = 0;
  std::string content_;
  DataFindings findings_;
  bool done_ = false;
};

}  // namespace postern::smtp
