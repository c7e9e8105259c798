// Durations and sizes as the configuration and the tools write them ("1h30m", "35M"). Pure
// functions of their text; nullopt on any error. (Addresses: common/ip_address.hpp.)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace postern::config {

// "300ms", "10s", "2m", "1h" (also "1h30m"); a bare integer is rejected (unit required).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// "35M", "512K", "1G", "100" (bytes); K/M/G are powers of 1024, an optional trailing "B" is ok.
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace postern::config
