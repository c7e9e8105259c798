// SMTP reply reader and EHLO parsing; see reply_reader.hpp for the contract.
#include "smtp/core/reply_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace postern::smtp {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 enhanced status code "x.y.z" at the start of a reply text.
std::size_t enhanced_code_length(std::string_view text) {
  std::size_t i = 0;
  int dots = 0;
  while (i < text.size() && (is_digit(text[i]) || text[i] == '.')) {
    if (text[i] == '.') ++dots;
    ++i;
  }
  if (dots != 2 || i < 5) return 0;
  return i;
}

}  // namespace

std::string Reply::text() const {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += ' ';
    out += l;
  }
  return out;
}

std::string Reply::verbatim() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!out.empty()) out += ' ';
    out += std::to_string(code);
    out += i + 1 == lines.size() ? ' ' : '-';
    out += lines[i];
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

void ReplyReader::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (failed()) return;
    if (c == '\n') {
      std::string_view line(line_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      consume_line(line);
      line_.clear();
      continue;
    }
    if (line_.size() >= kMaxLine) {
      error_ = "reply line longer than " + std::to_string(kMaxLine) + " bytes";
      return;
    }
    line_ += c;
  }
}

void ReplyReader::consume_line(std::string_view line) {
  // RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
  bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) &&
                 is_digit(line[2]) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
  if (!code_ok) {
    error_ = "malformed reply line: \"" + std::string(line.substr(0, 80)) + "\"";
    return;
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!current_.lines.empty() && code != current_.code) {
    error_ = "reply code changed inside a multiline reply";
    return;
  }
  if (current_.lines.size() >= kMaxLines) {
    error_ = "reply longer than " + std::to_string(kMaxLines) + " lines";
    return;
  }
  current_.code = code;
  current_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
  bool last = line.size() == 3 || line[3] == ' ';
  if (last) {
    current_.last_line = std::string(line);
    ready_.push_back(std::move(current_));
    current_ = Reply{};
  }
}

std::optional<Reply> ReplyReader::next() {
  if (ready_.empty()) return std::nullopt;
  Reply r = std::move(ready_.front());
  ready_.pop_front();
  return r;
}

bool Capabilities::has_auth(std::string_view mechanism) const {
  return std::find(auth_mechanisms.begin(), auth_mechanisms.end(), upper(mechanism)) !=
         auth_mechanisms.end();
}

Capabilities parse_ehlo(const Reply& reply) {
  Capabilities caps;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    std::istringstream words(upper(reply.lines[i]));
    std::string keyword;
    words >> keyword;
    if (keyword == "STARTTLS") caps.starttls = true;
    if (keyword == "PIPELINING") caps.pipelining = true;
    if (keyword == "8BITMIME") caps.eightbitmime = true;
    if (keyword == "ENHANCEDSTATUSCODES") caps.enhanced_codes = true;
    if (keyword == "SMTPUTF8") caps.smtputf8 = true;
    if (keyword == "DSN") caps.dsn = true;
    if (keyword == "SIZE") {
      caps.size = true;
      std::string limit;
      words >> limit;
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
      if (ec == std::errc{} && end == limit.data() + limit.size()) caps.size_limit = n;
    }
    // "AUTH=LOGIN PLAIN": the pre-RFC 4954 form some servers still send.
    if (keyword == "AUTH" || keyword.starts_with("AUTH=")) {
      if (keyword.size() > 5) caps.auth_mechanisms.push_back(keyword.substr(5));
      for (std::string mech; words >> mech;) caps.auth_mechanisms.push_back(mech);
    }
  }
  return caps;
}

std::string enhanced_code_of(const Reply& reply) {
  if (reply.lines.empty()) return {};
  std::string_view first = reply.lines.front();
  std::size_t n = enhanced_code_length(first);
  if (n == 0 || first[0] != static_cast<char>('0' + reply.code / 100)) return {};
  if (n < first.size() && first[n] != ' ') return {};
  return std::string(first.substr(0, n));
}

std::string queue_id_of(const Reply& reply) {
  std::string text = reply.text();
  std::string up = upper(text);
  auto pos = up.find("QUEUED AS ");
  if (pos != std::string::npos) {
    std::string_view rest = std::string_view(text).substr(pos + 10);
    auto end = rest.find_first_of(" \t;,");
    std::string id(rest.substr(0, end));
    if (!id.empty()) return id;
  }
  std::string_view view(text);
  view.remove_prefix(enhanced_code_length(view));
  while (!view.empty() && view.front() == ' ') view.remove_prefix(1);
  return view.empty() ? std::to_string(reply.code) : std::string(view);
}

}  // namespace postern::smtp
