// find_unsafe_toml_character (see toml_text_guard.hpp): a small TOML lexer that knows only
// comments and the four string forms, enough to tell where toml++ classifies whitespace.
#include "common/toml_text_guard.hpp"

namespace postern::config {
namespace {

bool is_trap(char32_t c) { return (c >= 0xA1 && c <= 0x499) || (c >= 0xFB26 && c <= 0xFEFF); }

// Decodes the 2- or 3-byte UTF-8 sequence at `i` (the only lengths the trap ranges use); 0
// for anything else, including malformed sequences (toml++ rejects those itself).
char32_t decode_at(std::string_view text, std::size_t i, std::size_t& length) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  auto cont = [&](std::size_t k) {
    return i + k < text.size() && (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
  };
  length = 1;
  if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    length = 2;
    return (char32_t{b0} & 0x1F) << 6 | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
  }
  if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    length = 3;
    return (char32_t{b0} & 0x0F) << 12 | (char32_t{static_cast<unsigned char>(text[i + 1])} & 0x3F) << 6 |
           (static_cast<unsigned char>(text[i + 2]) & 0x3F);
  }
  return 0;
}

// A quote opens a string only where toml++ starts a key or a value: at the start of a line,
// after '=', '[', ',', '{' or a key's '.'. Anywhere else it is inside a bare token, which toml++
// scans character by character (and classifies) until it fails: the text after it is code.
bool opens_string(char last) {
  return last == '\n' || last == '=' || last == '[' || last == ',' || last == '{' || last == '.';
}

enum class State { code, comment, basic, literal, multi_basic, multi_literal };

}  // namespace

std::optional<UnsafeTomlCharacter> find_unsafe_toml_character(std::string_view text) {
  State state = State::code;
  std::size_t line = 1;
  char last = '\n';  // the last non-blank character outside strings and comments
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      last = '\n';
      if (state == State::comment || state == State::basic || state == State::literal) state = State::code;
      ++i;
      continue;
    }
    const bool opens_triple = i + 2 < text.size() && text[i + 1] == c && text[i + 2] == c;
    switch (state) {
      case State::code:
        if (c == '#') {
          state = State::comment;
        } else if ((c == '"' || c == '\'') && opens_string(last)) {
          state = c == '"' ? (opens_triple ? State::multi_basic : State::basic)
                           : (opens_triple ? State::multi_literal : State::literal);
          if (opens_triple) i += 2;
        }
        if (c != ' ' && c != '\t') last = c;
        break;
      case State::basic:
      case State::multi_basic:
        if (c == '\\') {
          // An escaped ASCII character cannot close the string: skip it. A non-ASCII one is
          // looked at next, in this string's state (refused in a multi-line basic string).
          ++i;
          if (i < text.size() && text[i] != '\n' && static_cast<unsigned char>(text[i]) < 0x80) ++i;
          continue;
        }
        if (c == '"' && (state == State::basic || opens_triple)) {
          if (state == State::multi_basic) i += 2;
          state = State::code;
        }
        break;
      case State::literal:
        if (c == '\'') state = State::code;
        break;
      case State::multi_literal:
        if (c == '\'' && opens_triple) {
          i += 2;
          state = State::code;
        }
        break;
      case State::comment:
        break;
    }
    std::size_t length = 1;
    if (static_cast<unsigned char>(c) >= 0x80) {
      const char32_t cp = decode_at(text, i, length);
      if (is_trap(cp) && (state == State::code || state == State::multi_basic)) return UnsafeTomlCharacter{line, cp};
    }
    i += length;
  }
  return std::nullopt;
}

}  // namespace postern::config
