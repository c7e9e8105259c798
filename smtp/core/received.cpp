// Received: header: see received.hpp.
#include "smtp/core/received.hpp"

#include <array>
#include <ctime>
#include <cstdio>

namespace postern::smtp {
namespace {

// Keeps peer-supplied text inside a comment or a domain token: no spaces, parentheses,
// backslashes or control octets (those could end the comment or forge another field).
std::string sanitize(std::string_view text, bool in_comment) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool bad = u < 0x21 || u > 0x7e || c == '(' || c == ')' || c == '\\' || (!in_comment && c == ';');
    out.push_back(bad ? '?' : c);
  }
  return out.empty() ? "unknown" : out;
}

std::string address_literal(std::string_view ip) {
  // RFC 5321 4.1.3: IPv6 literals carry the "IPv6:" tag.
  if (ip.find(':') != std::string_view::npos) return "[IPv6:" + sanitize(ip, true) + "]";
  return "[" + sanitize(ip, true) + "]";
}

void add_words(std::vector<std::string>& tokens, std::string_view text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t space = text.find(' ', start);
    const std::size_t end = space == std::string_view::npos ? text.size() : space;
    if (end > start) tokens.emplace_back(text.substr(start, end - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
}

}  // namespace

std::string format_rfc5322_date(std::chrono::system_clock::time_point time) {
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000", days.at(static_cast<std::size_t>(tm.tm_wday) % 7),
                tm.tm_mday, months.at(static_cast<std::size_t>(tm.tm_mon) % 12), tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf.data();
}

std::string fold_tokens(const std::vector<std::string>& tokens, std::size_t width) {
  std::string out;
  std::size_t line = 0;
  for (const auto& token : tokens) {
    if (line == 0) {
      out += token;
      line = token.size();
    } else if (line + 1 + token.size() <= width) {
      out += ' ';
      out += token;
      line += 1 + token.size();
    } else {
      out += "\r\n\t";  // RFC 5322 2.2.3: folding = CRLF before white space
      out += token;
      line = 1 + token.size();
    }
  }
  out += "\r\n";
  return out;
}

std::string build_received(const ReceivedInfo& info) {
  std::vector<std::string> tokens{"Received:", "from", sanitize(info.helo, false),
                                  "(" + address_literal(info.peer_ip) + ")", "by", sanitize(info.hostname, false),
                                  "(postern)", "with"};
  // RFC 3848: ESMTP + S (TLS) + A (authenticated); plain SMTP only after HELO without either.
  std::string with = info.esmtp || info.tls || !info.auth_user.empty() ? "ESMTP" : "SMTP";
  if (info.tls) with += 'S';
  if (!info.auth_user.empty()) with += 'A';
  tokens.push_back(with);
  tokens.emplace_back("id");
  tokens.push_back(sanitize(info.queue_id, false));
  if (info.tls) {
    add_words(tokens, "(using " + sanitize(info.tls_version, true) + " with cipher " +
                          sanitize(info.tls_cipher, true) + ")");
  }
  if (!info.auth_user.empty()) add_words(tokens, "(authenticated user " + sanitize(info.auth_user, true) + ")");
  if (!info.tunnel_user.empty()) add_words(tokens, "(tunnel user " + sanitize(info.tunnel_user, true) + ")");
  if (!info.recipient.empty()) {
    tokens.emplace_back("for");
    tokens.push_back("<" + sanitize(info.recipient, false) + ">");
  }
  tokens.back() += ';';
  tokens.push_back(format_rfc5322_date(info.time));
  return fold_tokens(tokens);
}

}  // namespace postern::smtp
