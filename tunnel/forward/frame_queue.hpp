// A bounded queue of sealed data-channel frames handed from the data-plane threads to the control
// thread when a session runs over the TLS fallback (see transport.hpp). Producers (TX thread, RX
// thread answering echoes) push copies; the control thread drains them into the negotiator.
// Contract: push() never blocks for long and never allocates after the first push (the ring is
// allocated once, on first use, so sessions that never fall back cost nothing); a full queue
// drops the frame and counts it, like a full socket buffer would. push() returns true exactly
// when the consumer must be woken (the first frame since the last drain), so a burst costs the
// producer one wake-up, not one per frame. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <span>
#include <vector>

namespace postern::tunnel::forward {

class FrameQueue {
 public:
  FrameQueue(std::size_t capacity, std::size_t max_frame) : capacity_(capacity), max_frame_(max_frame) {}

  enum class Push { queued, queued_wake, dropped };

  Push push(std::span<const std::uint8_t> frame) {
    std::lock_guard lock(mutex_);
    if (frame.size() > max_frame_ || count_ == capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return Push::dropped;
    }
    if (storage_.empty()) {
      storage_.resize(capacity_ * max_frame_);
      sizes_.resize(capacity_);
    }
    std::size_t slot = (head_ + count_) % capacity_;
    std::memcpy(storage_.data() + slot * max_frame_, frame.data(), frame.size());
    sizes_[slot] = frame.size();
    ++count_;
    if (wake_pending_) return Push::queued;
    wake_pending_ = true;
    return Push::queued_wake;
  }

  // Calls fn(span) for every queued frame, oldest first, then re-arms the wake-up. Returns the
  // number of frames drained. fn runs under the queue lock: keep it short, never push from it.
  template <typename Fn>
  std::size_t drain(Fn&& fn) {
    std::lock_guard lock(mutex_);
    std::size_t n = count_;
    for (; count_ > 0; --count_, head_ = (head_ + 1) % capacity_) {
      fn(std::span<const std::uint8_t>(storage_.data() + head_ * max_frame_, sizes_[head_]));
    }
    wake_pending_ = false;
    return n;
  }

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  const std::size_t capacity_;
  const std::size_t max_frame_;
  std::mutex mutex_;
  std::vector<std::uint8_t> storage_;
  std::vector<std::size_t> sizes_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool wake_pending_ = false;
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace postern::tunnel::forward
