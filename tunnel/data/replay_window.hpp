// Anti-replay for one receive direction: an RFC 6479 bitmap window of kReplayWindowBits bits
// (64-bit blocks, one block of slack so sliding forward only clears whole blocks), plus the
// reconstruction of the 64-bit packet counter from the 32-bit GRE sequence number.
// Contract: check() is const and update() is separate, so the caller moves the window only after
// the AEAD open succeeded (WireGuard order: an unauthenticated packet never changes state).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data {

enum class ReplayCheck {
  ok,
  duplicate,  // inside the window and already seen
  too_old,    // left of the window
  exhausted,  // at or beyond kRejectAfterCounter: a sender must never get here
};
std::string_view to_string(ReplayCheck check);

class ReplayWindow {
 public:
  ReplayCheck check(std::uint64_t counter) const;
  // Marks `counter` seen and slides the window forward if it is the new highest. Call only after
  // check() returned ok and the packet authenticated.
  void update(std::uint64_t counter);

  // Highest counter accepted so far (0 before any; counter 0 is still acceptable then).
  std::uint64_t highest() const { return highest_; }

 private:
  static constexpr std::size_t kBlocks = kReplayWindowBits / 64;
  static constexpr std::uint64_t kBlockMask = kBlocks - 1;
  static_assert((kBlocks & (kBlocks - 1)) == 0, "block count must be a power of two");

  bool test_bit(std::uint64_t counter) const;

  std::array<std::uint64_t, kBlocks> bitmap_{};
  std::uint64_t highest_ = 0;
};

// The 64-bit counter whose low 32 bits are `sequence` and which is closest to `highest`
// (the highest counter accepted so far): handles the wrap of the low half in both directions and
// never wraps below 0 or above 2^64 - 1.
std::uint64_t reconstruct_counter(std::uint32_t sequence, std::uint64_t highest);

}  // namespace postern::tunnel::data
