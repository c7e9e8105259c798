// RFC 6479 replay window and counter reconstruction (see replay_window.hpp).
#include "tunnel/data/replay_window.hpp"

namespace postern::tunnel::data {

std::string_view to_string(ReplayCheck check) {
  switch (check) {
    case ReplayCheck::ok: return "ok";
    case ReplayCheck::duplicate: return "duplicate";
    case ReplayCheck::too_old: return "too_old";
    case ReplayCheck::exhausted: return "exhausted";
  }
  return "unknown";
}

bool ReplayWindow::test_bit(std::uint64_t counter) const {
  const std::uint64_t block = (counter >> 6) & kBlockMask;
  return (bitmap_[block] >> (counter & 63)) & 1U;
}

ReplayCheck ReplayWindow::check(std::uint64_t counter) const {
  if (counter >= kRejectAfterCounter) return ReplayCheck::exhausted;
  if (counter > highest_) return ReplayCheck::ok;
  // RFC 6479 section 2.2: only the last kReplayWindowSize counters are tracked.
  if (highest_ - counter >= kReplayWindowSize) return ReplayCheck::too_old;
  return test_bit(counter) ? ReplayCheck::duplicate : ReplayCheck::ok;
}

void ReplayWindow::update(std::uint64_t counter) {
  if (counter > highest_) {
    // Clear the blocks the window slides over (at most all of them), then move the head.
    const std::uint64_t old_block = highest_ >> 6;
    const std::uint64_t new_block = counter >> 6;
    std::uint64_t steps = new_block - old_block;
    if (steps > kBlocks) steps = kBlocks;
    for (std::uint64_t i = 1; i <= steps; ++i) bitmap_[(old_block + i) & kBlockMask] = 0;
    highest_ = counter;
  }
  bitmap_[(counter >> 6) & kBlockMask] |= std::uint64_t{1} << (counter & 63);
}

std::uint64_t reconstruct_counter(std::uint32_t sequence, std::uint64_t highest) {
  constexpr std::uint64_t kHalf = std::uint64_t{1} << 31;
  constexpr std::uint64_t kSpan = std::uint64_t{1} << 32;
  const std::uint64_t candidate = (highest & ~(kSpan - 1)) | sequence;
  if (candidate < highest && highest - candidate > kHalf && candidate <= ~std::uint64_t{0} - kSpan) {
    return candidate + kSpan;  // the low half wrapped forward
  }
  if (candidate > highest && candidate - highest > kHalf && candidate >= kSpan) {
    return candidate - kSpan;  // a late packet from before the wrap
  }
  return candidate;
}

}  // namespace postern::tunnel::data
