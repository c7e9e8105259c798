// Incremental deframer (see control_reader.hpp). Bytes are copied into partial_ only until the
// current frame is complete, so a feed() of many frames costs one copy per frame body.
#include "tunnel/control/control_reader.hpp"

#include <algorithm>

#include <openssl/crypto.h>

namespace postern::tunnel::control {

std::size_t ControlReader::feed(std::span<const std::uint8_t> bytes) {
  std::size_t consumed = 0;
  while (!error_ && consumed < bytes.size()) {
    // Complete the header first; it tells how much body to wait for.
    if (partial_.size() < kHeaderSize) {
      std::size_t take = std::min(kHeaderSize - partial_.size(), bytes.size() - consumed);
      partial_.insert(partial_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(consumed),
                      bytes.begin() + static_cast<std::ptrdiff_t>(consumed + take));
      consumed += take;
      if (partial_.size() < kHeaderSize) break;
      // Reject as early as possible: an unknown type or oversized length needs no body.
      if (!message_type_from_wire(partial_[0])) {
        error_ = errc::unknown_message_type;
        break;
      }
      if (((std::size_t{partial_[1]} << 8) | partial_[2]) > kMaxBody) {
        error_ = errc::oversized_message;
        break;
      }
      // One allocation for the frame: growing would leave pieces of a HELLO in freed memory.
      partial_.reserve(kHeaderSize + ((std::size_t{partial_[1]} << 8) | partial_[2]));
    }
    std::size_t body_len = (std::size_t{partial_[1]} << 8) | partial_[2];
    std::size_t have = partial_.size() - kHeaderSize;
    std::size_t take = std::min(body_len - have, bytes.size() - consumed);
    partial_.insert(partial_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(consumed),
                    bytes.begin() + static_cast<std::ptrdiff_t>(consumed + take));
    consumed += take;
    if (partial_.size() == kHeaderSize + body_len) {
      Frame f;
      f.type = static_cast<MessageType>(partial_[0]);
      f.body.assign(partial_.begin() + kHeaderSize, partial_.end());
      // partial_ keeps its capacity: a HELLO's password must not stay behind in it.
      if (f.type == MessageType::hello) OPENSSL_cleanse(partial_.data(), partial_.size());
      ready_.push_back(std::move(f));
      partial_.clear();
    }
  }
  return consumed;
}

ControlReader::~ControlReader() {
  if (!partial_.empty() && partial_[0] == static_cast<std::uint8_t>(MessageType::hello)) {
    OPENSSL_cleanse(partial_.data(), partial_.size());
  }
}

std::optional<Frame> ControlReader::next() {
  if (ready_.empty()) return std::nullopt;
  Frame f = std::move(ready_.front());
  ready_.pop_front();
  return f;
}

}  // namespace postern::tunnel::control
