// FrameQueue: the bounded hand-off of sealed frames to the control thread (TLS fallback).
#include "tunnel/forward/frame_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace postern::tunnel::forward {
namespace {

TEST(FrameQueue, KeepsOrderWakesOncePerBurstAndDropsWhenFull) {
  FrameQueue q(4, 8);
  std::vector<std::uint8_t> f1{1}, f2{2, 2}, big(9, 0);
  EXPECT_EQ(q.push(f1), FrameQueue::Push::queued_wake);
  EXPECT_EQ(q.push(f2), FrameQueue::Push::queued);
  EXPECT_EQ(q.push(big), FrameQueue::Push::dropped);
  EXPECT_EQ(q.push(f1), FrameQueue::Push::queued);
  EXPECT_EQ(q.push(f1), FrameQueue::Push::queued);
  EXPECT_EQ(q.push(f1), FrameQueue::Push::dropped);  // full
  EXPECT_EQ(q.dropped(), 2u);
  std::vector<std::vector<std::uint8_t>> out;
  EXPECT_EQ(q.drain([&](std::span<const std::uint8_t> f) { out.emplace_back(f.begin(), f.end()); }), 4u);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], f1);
  EXPECT_EQ(out[1], f2);
  EXPECT_EQ(q.push(f2), FrameQueue::Push::queued_wake);  // wrapped around, wakes again
  out.clear();
  q.drain([&](std::span<const std::uint8_t> f) { out.emplace_back(f.begin(), f.end()); });
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], f2);
}

}  // namespace
}  // namespace postern::tunnel::forward
