// Table tests for the configuration value parsers: durations and sizes (addresses:
// tests/common/ip_address_test.cpp).
#include "common/duration.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

using std::chrono::milliseconds;

TEST(Duration, Table) {
  struct Case {
    const char* text;
    std::optional<milliseconds> want;
  } cases[] = {
      {"300ms", milliseconds(300)}, {"10s", milliseconds(10'000)}, {"2m", milliseconds(120'000)},
      {"1h", milliseconds(3'600'000)}, {"1h30m", milliseconds(5'400'000)}, {"0s", milliseconds(0)},
      {"1d", milliseconds(86'400'000)}, {"", std::nullopt}, {"10", std::nullopt}, {"s", std::nullopt},
      {"10x", std::nullopt}, {"-1s", std::nullopt}, {"1.5s", std::nullopt}, {" 1s", std::nullopt},
      {"99999999999999999999h", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_duration(c.text), c.want) << c.text;
}

TEST(Size, Table) {
  struct Case {
    const char* text;
    std::optional<std::uint64_t> want;
  } cases[] = {
      {"35M", 35ull << 20}, {"512K", 512ull << 10}, {"1G", 1ull << 30}, {"100", 100},
      {"2MB", 2ull << 20}, {"0", 0}, {"", std::nullopt}, {"M", std::nullopt}, {"1T", std::nullopt},
      {"-5", std::nullopt}, {"99999999999999999999G", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_size(c.text), c.want) << c.text;
}

}  // namespace
}  // namespace postern::config
