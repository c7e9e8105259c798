// A pre-scan of configuration text for the characters that toml++ 3.3 cannot classify.
// toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() (undefined
// behaviour in a release build) for U+00A1..U+0499 and U+FB26..U+FEFF (upstream
// marzer/tomlplusplus issues #190 and #295, fixed after 3.3; Debian 12 ships 3.3). The parser
// asks that question of every character where whitespace may appear: between tokens, and inside
// a multi-line basic string after a backslash. TOML allows non-ASCII there only as errors anyway,
// so refusing these characters outside comments and strings loses nothing; inside multi-line
// basic strings ("""...""") they are refused too, because an escape there asks the question.
// Comments, "basic" and 'literal' strings and '''multi-line literal''' strings keep any UTF-8.
// Contract: pure function on the text; returns the first offending character, if any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace postern::config {

struct UnsafeTomlCharacter {
  std::size_t line = 0;  // 1-based, as toml++ reports lines
  char32_t code_point = 0;
};

std::optional<UnsafeTomlCharacter> find_unsafe_toml_character(std::string_view text);

}  // namespace postern::config
