// find_unsafe_toml_character (see toml_text_guard.hpp). Line by line: a line holding one of the
// characters is accepted only when its shape shows toml++ will not classify it (a comment line,
// or one `key = "string"` / `key = 'string'` with an optional trailing comment); any other line
// holding one is refused. Deliberately not a TOML lexer: toml++ scans a malformed bare value to
// its end character by character, so guessing where strings start (as an earlier version of this
// file did) misses positions the fuzzer finds.
#include "common/toml_text_guard.hpp"

namespace postern::config {
namespace {

bool is_trap(char32_t c) { return (c >= 0xA1 && c <= 0x499) || (c >= 0xFB26 && c <= 0xFEFF); }

// The first trap character of `line` (a 2- or 3-byte UTF-8 sequence: the only lengths the
// ranges use), or 0.
char32_t first_trap(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(line[i]);
    auto cont = [&](std::size_t k) { return i + k < line.size() && (static_cast<unsigned char>(line[i + k]) & 0xC0) == 0x80; };
    char32_t c = 0;
    if ((b0 & 0xE0) == 0xC0 && cont(1)) {
      c = (char32_t{b0} & 0x1F) << 6 | (static_cast<unsigned char>(line[i + 1]) & 0x3F);
    } else if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
      c = (char32_t{b0} & 0x0F) << 12 | (char32_t{static_cast<unsigned char>(line[i + 1])} & 0x3F) << 6 |
          (static_cast<unsigned char>(line[i + 2]) & 0x3F);
    }
    if (is_trap(c)) return c;
  }
  return 0;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

std::size_t skip_blanks(std::string_view s, std::size_t i) {
  while (i < s.size() && blank(s[i])) ++i;
  return i;
}

bool bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// `key = "..."` or `key = '...'` (dotted bare key, one single-line string, blanks, an optional
// comment): toml++ reads such a string's characters without classifying them.
bool is_simple_string_line(std::string_view line) {
  std::size_t i = skip_blanks(line, 0);
  const std::size_t key = i;
  while (i < line.size() && bare_key_char(line[i])) ++i;
  if (i == key) return false;
  i = skip_blanks(line, i);
  if (i >= line.size() || line[i] != '=') return false;
  i = skip_blanks(line, i + 1);
  if (i >= line.size() || (line[i] != '"' && line[i] != '\'')) return false;
  const char quote = line[i++];
  if (i + 1 < line.size() && line[i] == quote && line[i + 1] == quote) return false;  // multi-line
  for (;; ++i) {
    if (i >= line.size()) return false;
    if (quote == '"' && line[i] == '\\') {
      // An escape. A non-ASCII character after it is never a valid escape, and toml++ classifies
      // it when the line is really inside a multi-line string: refuse.
      if (++i >= line.size() || static_cast<unsigned char>(line[i]) >= 0x80) return false;
      continue;
    }
    if (line[i] == quote) break;
  }
  i = skip_blanks(line, i + 1);
  return i == line.size() || line[i] == '#';
}

}  // namespace

std::optional<UnsafeTomlCharacter> find_unsafe_toml_character(std::string_view text) {
  std::size_t number = 1;
  for (std::size_t start = 0; start <= text.size(); ++number) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (const char32_t c = first_trap(line)) {
      const std::size_t first = skip_blanks(line, 0);
      const bool comment_line = first < line.size() && line[first] == '#';
      if (!comment_line && !is_simple_string_line(line)) return UnsafeTomlCharacter{number, c};
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace postern::config
