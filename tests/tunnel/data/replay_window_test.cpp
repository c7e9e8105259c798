// Replay window (RFC 6479) and counter reconstruction: table-driven, like WireGuard's
// selftest/counter.c.
#include "tunnel/data/replay_window.hpp"

#include <gtest/gtest.h>

namespace postern::tunnel::data {
namespace {

constexpr std::uint64_t W = kReplayWindowSize;

struct Step {
  std::uint64_t counter;
  ReplayCheck expected;
};

// Each step: check; when ok, update (as the receiver does after a successful open).
void run(std::initializer_list<Step> steps) {
  ReplayWindow window;
  int i = 0;
  for (const Step& s : steps) {
    EXPECT_EQ(window.check(s.counter), s.expected) << "step " << i << " counter " << s.counter;
    if (s.expected == ReplayCheck::ok) window.update(s.counter);
    ++i;
  }
}

TEST(ReplayWindow, WindowIsLargeEnough) { EXPECT_GE(kReplayWindowSize, 2048u); }

TEST(ReplayWindow, InOrderAndDuplicates) {
  run({{0, ReplayCheck::ok}, {0, ReplayCheck::duplicate}, {1, ReplayCheck::ok}, {1, ReplayCheck::duplicate},
       {2, ReplayCheck::ok}, {3, ReplayCheck::ok}, {2, ReplayCheck::duplicate}, {4, ReplayCheck::ok}});
}

TEST(ReplayWindow, ReorderedInsideWindow) {
  run({{10, ReplayCheck::ok}, {5, ReplayCheck::ok}, {0, ReplayCheck::ok}, {5, ReplayCheck::duplicate},
       {7, ReplayCheck::ok}, {11, ReplayCheck::ok}, {6, ReplayCheck::ok}, {10, ReplayCheck::duplicate}});
}

TEST(ReplayWindow, WindowEdge) {
  run({{W, ReplayCheck::ok},
       {0, ReplayCheck::too_old},            // exactly W behind: outside
       {1, ReplayCheck::ok},                 // W - 1 behind: the oldest acceptable
       {1, ReplayCheck::duplicate},
       {W + 1, ReplayCheck::ok},
       {1, ReplayCheck::too_old},            // slid out now
       {2, ReplayCheck::ok}});
}

TEST(ReplayWindow, FarAheadClearsEverything) {
  run({{0, ReplayCheck::ok}, {1, ReplayCheck::ok}, {100, ReplayCheck::ok},
       {100 + 10 * W, ReplayCheck::ok},
       {100 + 10 * W, ReplayCheck::duplicate},
       {100 + 9 * W + 1, ReplayCheck::ok},   // W - 1 behind, never seen
       {100 + 9 * W, ReplayCheck::too_old},
       {100, ReplayCheck::too_old}});
}

TEST(ReplayWindow, BlockAliasingAfterSlide) {
  // Counters kReplayWindowBits apart share a bit: 4 and 8196 both map to bit 4 of block 0. When
  // the head enters block 128 (= slot 0 again) the stale bit of counter 4 must be cleared.
  const std::uint64_t bits = kReplayWindowBits;
  run({{4, ReplayCheck::ok}, {bits - 1, ReplayCheck::ok}, {bits + 8, ReplayCheck::ok},
       {bits + 4, ReplayCheck::ok}, {bits + 4, ReplayCheck::duplicate}, {4, ReplayCheck::too_old}});
}

TEST(ReplayWindow, EveryCounterOnceAcrossManyBlocks) {
  ReplayWindow window;
  for (std::uint64_t c = 0; c < 5 * kReplayWindowBits; c += 2) {  // evens first, odds late
    ASSERT_EQ(window.check(c), ReplayCheck::ok) << c;
    window.update(c);
    if (c >= 64) {
      ASSERT_EQ(window.check(c - 63), ReplayCheck::ok) << c;
      window.update(c - 63);
      ASSERT_EQ(window.check(c - 63), ReplayCheck::duplicate) << c;
    }
  }
}

TEST(ReplayWindow, ExhaustedAtRejectLimit) {
  run({{kRejectAfterCounter - 1, ReplayCheck::ok}, {kRejectAfterCounter, ReplayCheck::exhausted},
       {~std::uint64_t{0}, ReplayCheck::exhausted}});
}

TEST(ReplayWindow, CheckDoesNotMoveWindow) {
  ReplayWindow window;
  window.update(100);
  EXPECT_EQ(window.check(100000), ReplayCheck::ok);
  EXPECT_EQ(window.highest(), 100u);
  EXPECT_EQ(window.check(50), ReplayCheck::ok);
}

struct Reconstruct {
  std::uint32_t sequence;
  std::uint64_t highest;
  std::uint64_t expected;
};

TEST(ReconstructCounter, Table) {
  constexpr std::uint64_t S = std::uint64_t{1} << 32;
  const Reconstruct table[] = {
      {0, 0, 0},
      {5, 0, 5},
      {0xFFFFFFF0, 0, 0xFFFFFFF0},             // cannot go below 0
      {7, 0xFFFFFFF0, S + 7},                   // low half wrapped forward
      {0xFFFFFFF0, S + 7, 0xFFFFFFF0},          // late packet from before the wrap
      {0x10, S + 0x20, S + 0x10},               // slightly behind, same high half
      {0x30, S + 0x20, S + 0x30},               // slightly ahead
      {0x80000000, 0, 0x80000000},              // exactly half ahead: stays
      {0x80000001, S, 0x80000001},              // just over half ahead: previous high half
      {0x7FFFFFFF, S + 0xFFFFFFFF, S + 0x7FFFFFFF},     // exactly half behind: stays
      {0x7FFFFFFE, S + 0xFFFFFFFF, 2 * S + 0x7FFFFFFE}, // just over half behind: wrapped
      {3, 5 * S + 0xFFFFFFFE, 6 * S + 3},
      {0xFFFFFFFF, ~std::uint64_t{0}, ~std::uint64_t{0}},
      {0, ~std::uint64_t{0}, ~std::uint64_t{0} - 0xFFFFFFFF},  // cannot go above 2^64 - 1
  };
  for (const auto& row : table) {
    EXPECT_EQ(reconstruct_counter(row.sequence, row.highest), row.expected)
        << std::hex << "seq " << row.sequence << " highest " << row.highest;
  }
}

TEST(ReconstructCounter, RoundTripNearHighest) {
  for (std::uint64_t highest : {std::uint64_t{0}, std::uint64_t{1} << 32, (std::uint64_t{7} << 32) + 12345,
                                (std::uint64_t{1} << 40) - 3}) {
    for (std::int64_t delta : {-100000LL, -1LL, 0LL, 1LL, 5000LL, 2000000000LL}) {
      const std::uint64_t actual = highest + static_cast<std::uint64_t>(delta);
      if (delta < 0 && highest < static_cast<std::uint64_t>(-delta)) continue;
      EXPECT_EQ(reconstruct_counter(static_cast<std::uint32_t>(actual), highest), actual);
    }
  }
}

}  // namespace
}  // namespace postern::tunnel::data
