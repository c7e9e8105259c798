// The fixed receiver the fuzz target tests/fuzz/fuzz_gre_frame.cpp opens frames with, shared
// with corpus_test.cpp which writes (POSTERN_WRITE_FUZZ_CORPUS=dir) and checks the seed corpus
// tests/fuzz/corpus/gre_frame/, so the seeds are frames that really authenticate.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

#include "tunnel/data/data_receiver.hpp"
#include "tunnel/data/data_sender.hpp"

namespace postern::tunnel::data::fuzz {

inline constexpr std::uint32_t kSessionId = 0x0000A5;

inline std::array<std::uint8_t, kKeySize> key_for(std::uint32_t epoch) {
  std::array<std::uint8_t, kKeySize> key{};
  key.fill(static_cast<std::uint8_t>(0x42 + epoch));
  return key;
}

inline std::chrono::steady_clock::time_point fixed_now() {
  return std::chrono::steady_clock::time_point{} + std::chrono::hours(24);
}

// A receiver with epoch 0 current and epoch 1 next, as in steady state just before a rekey.
inline DataReceiver make_receiver() {
  DataReceiver receiver(kSessionId, kDefaultSuite);
  receiver.install_epoch(0, key_for(0), fixed_now());
  receiver.install_epoch(1, key_for(1), fixed_now());
  return receiver;
}

inline DataSender make_sender() {
  DataSender sender(kSessionId, kDefaultSuite);
  sender.install_epoch(0, key_for(0), fixed_now());
  sender.install_epoch(1, key_for(1), fixed_now());
  return sender;
}

}  // namespace postern::tunnel::data::fuzz
