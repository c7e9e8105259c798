// Message content reader: see data_reader.hpp for the contract.
// The state machine works per octet only around line starts and CRs; the body of a line is
// copied in one piece (scan_line), so large messages cost one pass of memchr-like scanning.
#include "smtp/core/data_reader.hpp"

namespace postern::smtp {

DataReader::DataReader(Framing framing, std::uint64_t max_size, std::size_t max_line)
    : framing_(framing), max_size_(max_size), max_line_(max_line) {}

void DataReader::emit(std::string_view bytes) {
  const std::uint64_t before = size_;
  size_ += bytes.size();
  if (size_ > max_size_) {
    // Exactly the first max_size octets go out whatever the splits, then nothing.
    if (before < max_size_) content_.append(bytes.substr(0, static_cast<std::size_t>(max_size_ - before)));
    findings_.too_big = true;
    return;
  }
  content_.append(bytes);
}

void DataReader::end_line() {
  // RFC 5321 4.5.3.1.6: 1000 octets including the CRLF (the stuffing dot counts: it is sent).
  if (line_length_ + 2 > max_line_) findings_.line_too_long = true;
  line_length_ = 0;
  emit("\r\n");
  state_ = State::line_start;
}

// Copies the plain run of a line (no CR, no LF) starting at pos; returns the new position.
std::size_t DataReader::scan_line(std::string_view input, std::size_t pos) {
  const std::size_t end = input.find_first_of("\r\n", pos);
  const std::size_t stop = end == std::string_view::npos ? input.size() : end;
  emit(input.substr(pos, stop - pos));
  line_length_ += stop - pos;
  return stop;
}

DataReader::Result DataReader::put(std::string_view input) {
  std::size_t i = 0;
  while (i < input.size() && !done_) {
    const char c = input[i];
    switch (state_) {
      case State::line_start:
        if (c == '.' && framing_ == Framing::dot) {
          state_ = State::dot;
          ++line_length_;
          ++i;
          continue;
        }
        state_ = State::in_line;
        continue;  // same octet, as line content
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
          continue;
        }
        state_ = State::in_line;  // RFC 5321 4.5.2: drop the stuffing dot, keep the rest
        continue;
      case State::dot_cr:
        if (c == '\n') {
          done_ = true;  // <CRLF>.<CRLF>
          ++i;
          continue;
        }
        findings_.bare_newline = true;  // ".<CR>x": the CR is content
        emit("\r");
        ++line_length_;
        state_ = State::in_line;
        continue;
      case State::in_line:
        if (c == '\r') {
          state_ = State::cr;
          ++i;
        } else if (c == '\n') {
          findings_.bare_newline = true;  // a bare LF never ends a line
          emit("\n");
          ++line_length_;
          ++i;
        } else {
          i = scan_line(input, i);
        }
        continue;
      case State::cr:
        if (c == '\n') {
          ++i;
          end_line();
          continue;
        }
        findings_.bare_newline = true;  // bare CR: content, and the line goes on
        emit("\r");
        ++line_length_;
        state_ = State::in_line;
        continue;
    }
  }
  return Result{i, done_};
}

void DataReader::finish() {
  if (state_ == State::cr) {
    findings_.bare_newline = true;
    emit("\r");
    state_ = State::in_line;
  }
  if (line_length_ + 2 > max_line_) findings_.line_too_long = true;
  done_ = true;
}

}  // namespace postern::smtp
