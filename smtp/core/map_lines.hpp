// The lexical layer shared by the line-oriented policy files (sender_map.hpp, recipient_map.hpp):
// comments, blank lines, "key: item, item" splitting that respects quoted local parts
// (RFC 5321 4.1.2 Quoted-string may contain ',' and ':'), ASCII case folding, and errors that
// name "file:line:". Each map owns its own grammar and checks; this file owns none.
// Contract: pure functions on strings, except read_map_file (reads one file). Errors are thrown
// as std::runtime_error: these files are read at startup and on SIGHUP, never on the data path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp::map_lines {

struct Line {
  std::size_t number = 0;  // 1-based
  std::string_view text;   // trimmed; never empty, never a comment
};

// The lines that carry content: blank lines and lines whose first non-blank character is '#' are
// skipped. A '#' later in a line is content ('#' is legal in a local part, RFC 5322 atext).
// A trailing '\r' (a file edited on Windows) is dropped.
std::vector<Line> content_lines(std::string_view text);

std::string_view trim(std::string_view text);

// Position of the first `c` outside a quoted string, or npos.
std::size_t find_unquoted(std::string_view text, char c);

// "a, b ,c" -> {"a", "b", "c"}, each trimmed; empty items are kept so the caller can reject them.
std::vector<std::string_view> split_list(std::string_view text);

// ASCII letters lower-cased, every other byte (UTF-8 included) unchanged.
std::string fold_case(std::string_view text);

// Throws std::runtime_error("<file>:<line>: <what>").
[[noreturn]] void fail(std::string_view file_name, std::size_t line, std::string_view what);

// The whole file; throws std::runtime_error("<path>: cannot read <what>: <reason>").
std::string read_map_file(const std::string& path, std::string_view what);

}  // namespace postern::smtp::map_lines
