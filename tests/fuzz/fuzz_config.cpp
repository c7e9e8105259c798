// Fuzzes the configuration loader (common/config.hpp) with arbitrary text. Its contract is to
// return a validated Config or throw ConfigError naming file, line and key; any other exception
// (toml++ parse errors, std::out_of_range from a number conversion, filesystem errors...) would
// escape to the operator as a bare what() without the file and line, so it aborts the fuzzer.
// Invariant on success: exactly one of server/client is set, or neither with [smtp] present.
// toml++ 3.3's whitespace classifier reaches __builtin_unreachable() for U+00A1..U+0499 and
// U+FB26..U+FEFF in some positions (upstream marzer/tomlplusplus issues #190 and #295); found
// here with "\xEF\xBB\x92rs\"\npoo\n" and "p\xEF\xBB\xBF[". parse_config refuses those characters
// where toml++ would classify them (common/toml_text_guard.hpp), so this target runs every input:
// a position the guard misses is UBSan's "unreachable program point" here.
#include "common/config.hpp"
#include "common/log.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <string_view>

using namespace postern::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    postern::log::set_sink([](postern::log::Level, std::string_view) {});
    return true;
  }();
  (void)quiet;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const Config config = parse_config(text, "/etc/postern/fuzz.toml");
    if (config.server && config.client) std::abort();
    if (config.server && config.server->pool.prefix_len > 32) std::abort();
  } catch (const ConfigError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config threw a non-ConfigError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
