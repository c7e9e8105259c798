// Duration and size parsers for the configuration (see duration.hpp).
#include "common/duration.hpp"

#include <charconv>
#include <limits>

namespace postern::config {
namespace {

template <typename Int>
std::optional<Int> parse_uint(std::string_view text) {
  Int v{};
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  while (!text.empty()) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto number = parse_uint<std::uint64_t>(text.substr(0, digits));
    if (!number) return std::nullopt;
    text.remove_prefix(digits);
    std::size_t unit_len = 0;
    while (unit_len < text.size() && (text[unit_len] < '0' || text[unit_len] > '9')) ++unit_len;
    std::string_view unit = text.substr(0, unit_len);
    text.remove_prefix(unit_len);
    std::uint64_t scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return std::nullopt;
    // A year in milliseconds is ~3e10; anything near overflow is a typo.
    if (*number > (std::uint64_t{1} << 40) / scale) return std::nullopt;
    total += *number * scale;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  if (!text.empty() && (text.back() == 'B' || text.back() == 'b')) text.remove_suffix(1);
  std::uint64_t scale = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 'K': case 'k': scale = std::uint64_t{1} << 10; break;
      case 'M': case 'm': scale = std::uint64_t{1} << 20; break;
      case 'G': case 'g': scale = std::uint64_t{1} << 30; break;
      default: break;
    }
    if (scale != 1) text.remove_suffix(1);
  }
  auto number = parse_uint<std::uint64_t>(text);
  if (!number || *number > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return *number * scale;
}

}  // namespace postern::config
