// Helpers shared by the data-channel tests: deterministic keys, a packet buffer with the seal
// headroom/tailroom, and minimal inner IP packets.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "tunnel/data/wire.hpp"

namespace postern::tunnel::data::test {

using TimePoint = std::chrono::steady_clock::time_point;
inline TimePoint t0() { return TimePoint{} + std::chrono::hours(1); }

// A distinct 32-byte key per (direction tag, epoch).
inline std::array<std::uint8_t, kKeySize> test_key(std::uint8_t tag, std::uint32_t epoch) {
  std::array<std::uint8_t, kKeySize> key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<std::uint8_t>(tag * 31 + epoch * 7 + i);
  }
  return key;
}

// An IPv4-looking payload: version nibble 4, then a 32-bit id and filler.
inline std::vector<std::uint8_t> ipv4_payload(std::uint32_t id, std::size_t size = 64) {
  std::vector<std::uint8_t> p(size, 0xAB);
  p[0] = 0x45;
  for (std::size_t i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(id >> (24 - 8 * i));
  return p;
}

inline std::uint32_t payload_id(std::span<const std::uint8_t> p) {
  return (std::uint32_t{p[4]} << 24) | (std::uint32_t{p[5]} << 16) | (std::uint32_t{p[6]} << 8) | p[7];
}

// A buffer laid out for DataSender::seal: payload copied at kSealHeadroom, tailroom after.
inline std::vector<std::uint8_t> seal_buffer(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> buf(kSealHeadroom + payload.size() + kSealTailroom);
  std::copy(payload.begin(), payload.end(), buf.begin() + kSealHeadroom);
  return buf;
}

}  // namespace postern::tunnel::data::test
