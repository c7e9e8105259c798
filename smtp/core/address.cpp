// Path and parameter syntax: see address.hpp. Length limits from RFC 5321 4.5.3.1.1-3.
#include "smtp/core/address.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace postern::smtp {
namespace {

constexpr std::size_t max_local_part = 64;
constexpr std::size_t max_domain = 255;
constexpr std::size_t max_path = 256;  // including the angle brackets

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
// RFC 6531 3.3: UTF8-non-ascii is allowed wherever atext and let-dig are.
bool is_non_ascii(unsigned char c) { return c >= 0x80; }

bool is_atext(unsigned char c) {
  static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return is_alpha(c) || is_digit(c) || is_non_ascii(c) || specials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool valid_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '.') {
      if (s[i + 1] == '.') return false;  // safe: s.back() != '.'
    } else if (!is_atext(c)) {
      return false;
    }
  }
  return true;
}

// RFC 5321 4.1.2 Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE.
bool valid_quoted_string(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      const auto q = static_cast<unsigned char>(s[++i]);
      if (q < 32 || q > 126) return false;
    } else if (c == '"' || (c < 32 && c != ' ') || c == 127) {
      return false;
    }
  }
  return true;
}

bool valid_sub_domain(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  auto let_dig = [](unsigned char c) { return is_alpha(c) || is_digit(c) || is_non_ascii(c); };
  if (!let_dig(static_cast<unsigned char>(label.front())) || !let_dig(static_cast<unsigned char>(label.back()))) {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [&](char c) {
    return let_dig(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > max_domain) return false;
  if (d.front() == '[') {  // address-literal: checked loosely, it is never routed on
    if (d.size() < 3 || d.back() != ']') return false;
    return std::all_of(d.begin() + 1, d.end() - 1, [](char c) {
      return is_alpha(static_cast<unsigned char>(c)) || is_digit(static_cast<unsigned char>(c)) ||
             c == '.' || c == ':';
    });
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = d.find('.', start);
    const std::string_view label = d.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!valid_sub_domain(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

std::string_view to_string(PathError error) {
  switch (error) {
    case PathError::none: return "none";
    case PathError::syntax: return "syntax";
    case PathError::too_long: return "too_long";
  }
  return "unknown";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; }
    else return false;
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

bool valid_mailbox(std::string_view mailbox) {
  const std::size_t at = mailbox.rfind('@');
  if (at == std::string_view::npos) return false;
  const std::string_view local = mailbox.substr(0, at);
  const std::string_view domain = mailbox.substr(at + 1);
  if (local.size() > max_local_part) return false;
  if (!valid_dot_string(local) && !valid_quoted_string(local)) return false;
  return valid_domain(domain);
}

ParsedPath parse_path(std::string_view text, PathKind kind) {
  ParsedPath out;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  // The closing bracket is the first '>' outside a quoted local part.
  std::size_t close = std::string_view::npos;
  bool quoted = false;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] == '\\' && quoted) { ++i; continue; }
    if (text[i] == '"') quoted = !quoted;
    if (text[i] == '>' && !quoted) { close = i; break; }
  }
  if (text.empty() || text.front() != '<' || close == std::string_view::npos) {
    out.error = PathError::syntax;
    return out;
  }
  if (close + 1 > max_path) {
    out.error = PathError::too_long;
    return out;
  }
  std::string_view inner = text.substr(1, close - 1);
  out.rest = text.substr(close + 1);
  if (!out.rest.empty() && out.rest.front() != ' ') {
    out.error = PathError::syntax;
    return out;
  }
  while (!out.rest.empty() && out.rest.front() == ' ') out.rest.remove_prefix(1);
  // RFC 5321 4.1.2 / C: accept a source route ("@a,@b:") and ignore it.
  if (!inner.empty() && inner.front() == '@') {
    const std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) { out.error = PathError::syntax; return out; }
    inner.remove_prefix(colon + 1);
  }
  out.non_ascii = std::any_of(inner.begin(), inner.end(), [](char c) { return is_non_ascii(static_cast<unsigned char>(c)); });
  if (out.non_ascii && !valid_utf8(inner)) { out.error = PathError::syntax; return out; }
  const bool null_ok = kind == PathKind::reverse && inner.empty();
  const bool postmaster = kind == PathKind::forward && iequals(inner, "postmaster");
  if (!null_ok && !postmaster && !valid_mailbox(inner)) {
    out.error = PathError::syntax;
    return out;
  }
  out.mailbox = std::string(inner);
  return out;
}

std::optional<Params> parse_params(std::string_view text) {
  Params params;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    std::string_view item = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    if (item.empty()) continue;  // tolerate repeated spaces
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
          return is_alpha(static_cast<unsigned char>(c)) || is_digit(static_cast<unsigned char>(c)) || c == '-';
        }) || key.front() == '-') {
      return std::nullopt;
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(item.substr(eq + 1));
      if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u >= 33 && u <= 126 && u != '=';
          })) {
        return std::nullopt;
      }
    }
    params.emplace_back(to_upper(key), std::move(value));
  }
  return params;
}

bool valid_xtext(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      // RFC 3461 4: the hex digits are upper case.
      auto hex = [&](std::size_t at) {
        return at < text.size() && (is_digit(static_cast<unsigned char>(text[at])) ||
                                    (text[at] >= 'A' && text[at] <= 'F'));
      };
      if (!hex(i + 1) || !hex(i + 2)) return false;
      i += 2;
    } else if (c < '!' || c > '~' || c == '=') {
      return false;
    }
  }
  return true;
}

std::string encode_xtext(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= '!' && c <= '~' && c != '+' && c != '=') {
      out += ch;
    } else {
      out += '+';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> decode_xtext(std::string_view xtext) {
  auto hex_value = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < xtext.size(); ++i) {
    if (xtext[i] != '+') {
      out.push_back(xtext[i]);
      continue;
    }
    if (i + 2 >= xtext.size()) return std::nullopt;
    const int hi = hex_value(xtext[i + 1]);
    const int lo = hex_value(xtext[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string_view domain_of(std::string_view mailbox) {
  const std::size_t at = mailbox.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : mailbox.substr(at + 1);
}

}  // namespace postern::smtp
