// Incremental deframer for the control stream: feed() any split of the TLS plaintext, take
// complete Frames with next(). Checks only the envelope (known type, length <= kMaxBody); bodies
// are decoded by decode_* in control_message.hpp. After an error the reader is dead: it consumes
// nothing more and error() stays set (the daemon closes the connection).
// Secrets: a HELLO (its password) is wiped from the reader's buffer once it is complete, and a
// partial one when the reader is destroyed; the Frame wipes its own copy (control_message.hpp).
// Memory: at most one partial frame (kHeaderSize + kMaxBody) plus the complete frames of the
// last feed() that the caller has not taken yet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "tunnel/control/control_message.hpp"

namespace postern::tunnel::control {

class ControlReader {
 public:
  ControlReader() = default;
  ControlReader(const ControlReader&) = default;
  ControlReader(ControlReader&&) = default;
  ControlReader& operator=(const ControlReader&) = default;
  ControlReader& operator=(ControlReader&&) = default;
  ~ControlReader();  // wipes a partial HELLO (it may hold a password)
  // Returns the number of bytes consumed: all of them, unless an error stops it early.
  std::size_t feed(std::span<const std::uint8_t> bytes);
  std::optional<Frame> next();
  std::error_code error() const { return error_; }
  // True while a frame is partially received (a clean EOF is only possible when false).
  bool mid_frame() const { return !partial_.empty(); }

 private:
  std::vector<std::uint8_t> partial_;  // header, then header + body, of the frame being read
  std::deque<Frame> ready_;
  std::error_code error_;
};

}  // namespace postern::tunnel::control
