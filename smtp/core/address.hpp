// Syntax of the MAIL/RCPT arguments: paths (RFC 5321 4.1.2, with RFC 6531 3.3 UTF-8 extensions)
// and ESMTP parameters (RFC 5321 4.1.2 Mail-parameters / Rcpt-parameters).
// Contract: pure functions on strings; no policy (relay, authorization) and no replies here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::smtp {

enum class PathKind { reverse, forward };  // MAIL (null <> allowed) / RCPT (<Postmaster> allowed)

enum class PathError { none, syntax, too_long };
std::string_view to_string(PathError error);

struct ParsedPath {
  PathError error = PathError::none;
  std::string mailbox;     // without brackets and source route; "" for <>
  bool non_ascii = false;  // needs SMTPUTF8 (RFC 6531 3.4)
  std::string_view rest;   // what follows '>' (the parameters), leading spaces removed
};

// Parses "<local@domain> params..." (leading spaces allowed). Angle brackets are required.
ParsedPath parse_path(std::string_view text, PathKind kind);

// Mailbox checks used by parse_path, exposed for tests.
bool valid_mailbox(std::string_view mailbox);
bool valid_utf8(std::string_view text);

// "KEY=value KEY2" -> {{"KEY","value"},{"KEY2",""}}, keywords upper-cased; nullopt on bad syntax
// (RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value = 1*(%d33-60 / %d62-126)).
using Params = std::vector<std::pair<std::string, std::string>>;
std::optional<Params> parse_params(std::string_view text);

// RFC 3461 4: xtext = *( xchar / "+" 2HEXDIG ), xchar = "!".."~" except "+" and "=".
bool valid_xtext(std::string_view text);
std::string encode_xtext(std::string_view text);
// "+XX" escapes undone; nullopt if malformed (RFC 3461 4: hex digits upper case).
std::optional<std::string> decode_xtext(std::string_view xtext);

// The part after the last '@' ("" when there is none, as in <Postmaster>).
std::string_view domain_of(std::string_view mailbox);
bool iequals(std::string_view a, std::string_view b);
std::string to_upper(std::string_view text);

}  // namespace postern::smtp
