// Command line reader: see line_reader.hpp for the contract.
#include "smtp/core/line_reader.hpp"

#include <utility>

#include <openssl/crypto.h>

namespace postern::smtp {

std::string_view to_string(LineStatus status) {
  switch (status) {
    case LineStatus::complete: return "complete";
    case LineStatus::bare_newline: return "bare_newline";
    case LineStatus::too_long: return "too_long";
  }
  return "unknown";
}

LineReader::~LineReader() { reset(); }

void LineReader::reset() {
  // An AUTH line (PLAIN response, LOGIN password) passes through here: wipe, never just forget.
  OPENSSL_cleanse(buffer_.data(), buffer_.size());
  buffer_.clear();
  length_ = 0;
  pending_cr_ = false;
  bare_ = false;
  overflow_ = false;
}

void LineReader::append(char c) {
  ++length_;
  // The limit counts the CRLF too, so a line may hold max_line - 2 octets of text.
  if (length_ + 2 > max_line_) {
    overflow_ = true;
    OPENSSL_cleanse(buffer_.data(), buffer_.size());
    buffer_.clear();
    return;
  }
  if (!overflow_) buffer_.push_back(c);
}

LineReader::Result LineReader::put(std::string_view input) {
  Result result;
  for (std::size_t i = 0; i < input.size(); ++i) {
    const char c = input[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        Line line;
        if (overflow_) {
          line.status = LineStatus::too_long;
        } else if (bare_) {
          line.status = LineStatus::bare_newline;
        } else {
          line.text = buffer_;  // one exact allocation; buffer_ keeps its memory, wiped below
        }
        reset();
        result.consumed = i + 1;
        result.line = std::move(line);
        return result;
      }
      // A CR not followed by LF is data, not a line end (RFC 5321 2.3.8).
      bare_ = true;
      append('\r');
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else {
      if (c == '\n') bare_ = true;
      append(c);
    }
  }
  result.consumed = input.size();
  return result;
}

}  // namespace postern::smtp
