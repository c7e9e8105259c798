// A pre-scan of configuration text for the characters that toml++ 3.3 cannot classify.
// toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() (undefined
// behaviour in a release build) for U+00A1..U+0499 and U+FB26..U+FEFF (upstream
// marzer/tomlplusplus issues #190 and #295, fixed after 3.3; Debian 12 ships 3.3). The parser
// asks that question of characters where whitespace may appear, which includes every character
// of a malformed bare value it scans to the end, and one after a backslash in a multi-line
// string. So a line holding one of these characters is accepted only in two shapes toml++ reads
// without classifying: a comment line (first non-blank '#'), and one `key = "string"` or
// `key = 'string'` with an optional trailing comment. Any other line holding one is refused with
// its line number: an admin's prose in comments and a name in a string keep any UTF-8, and
// nothing reaches the undefined behaviour.
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
