// Message assembly for `postern send`; see message.hpp for the contract.
#include "tools/postern/send/message.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace postern::tools::send {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// RFC 5322 2.1.1: a line is at most 998 characters excluding CRLF.
constexpr std::size_t kMaxLineLength = 998;
// RFC 2045 6.8: base64 lines of at most 76 characters.
constexpr std::size_t kBase64LineLength = 76;
// RFC 2047 2: an encoded-word is at most 75 characters; "=?UTF-8?B?" + "?=" leaves 63, which is
// 45 input bytes (60 base64 characters).
constexpr std::size_t kEncodedWordBytes = 45;

// Header values come from the command line: a CR or LF would inject headers.
std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace_if(out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return out;
}

bool is_plain_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

bool has_8bit(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool has_long_line(std::string_view crlf_text) {
  std::size_t start = 0;
  while (start < crlf_text.size()) {
    std::size_t end = crlf_text.find("\r\n", start);
    if (end == std::string_view::npos) end = crlf_text.size();
    if (end - start > kMaxLineLength) return true;
    start = end + 2;
  }
  return false;
}

// Folds a comma-separated address list so no header line exceeds 78 characters (RFC 5322 2.1.1).
std::string address_list(const std::vector<std::string>& addresses, std::size_t name_length) {
  std::string out;
  std::size_t line = name_length + 2;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    std::string addr = one_line(addresses[i]);
    if (i > 0) {
      out += ",";
      line += 1;
      if (line + 1 + addr.size() > 78) {
        out += "\r\n";
        line = 0;
      }
      out += " ";
      line += 1;
    }
    out += addr;
    line += addr.size();
  }
  return out;
}

std::string safe_filename(std::string_view name) {
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') ? '_' : c;
  }
  return out.empty() ? "attachment" : out;
}

struct EncodedBody {
  std::string transfer_encoding;
  std::string text;
  bool eight_bit = false;
};

EncodedBody encode_body(std::string_view raw, bool server_has_8bitmime) {
  std::string text = normalise_line_endings(raw);
  bool eight = has_8bit(text);
  if (has_long_line(text) || (eight && !server_has_8bitmime)) {
    return {"base64", base64_encode(text, kBase64LineLength) + "\r\n", false};
  }
  if (eight) return {"8bit", std::move(text), true};
  return {"7bit", std::move(text), false};
}

std::string text_part_headers(const EncodedBody& body) {
  return fmt::format("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {}\r\n",
                     body.transfer_encoding);
}

std::string choose_boundary(const MessageSpec& spec, std::string_view body) {
  std::string boundary = "=_postern_" + spec.message_id_token;
  // "=_" never occurs in base64 and rarely in text; lengthen until it does not occur at all.
  while (body.find(boundary) != std::string_view::npos) boundary += "_x";
  return boundary;
}

std::string message_id_domain(std::string_view from) {
  std::string addr = address_of(from);
  auto at = addr.rfind('@');
  if (at == std::string::npos || at + 1 == addr.size()) return "postern.invalid";
  return addr.substr(at + 1);
}

}  // namespace

std::string base64_encode(std::span<const std::uint8_t> bytes, std::size_t line_length) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4 + bytes.size() / 32);
  std::size_t column = 0;
  auto put = [&](char c) {
    if (line_length != 0 && column == line_length) {
      out += "\r\n";
      column = 0;
    }
    out += c;
    ++column;
  };
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(bytes[i]) << 16;
    std::size_t left = bytes.size() - i;
    if (left > 1) n |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
    if (left > 2) n |= bytes[i + 2];
    put(kBase64Alphabet[(n >> 18) & 63]);
    put(kBase64Alphabet[(n >> 12) & 63]);
    put(left > 1 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    put(left > 2 ? kBase64Alphabet[n & 63] : '=');
  }
  return out;
}

std::string base64_encode(std::string_view text, std::size_t line_length) {
  return base64_encode(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
      line_length);
}

std::string format_date(std::chrono::system_clock::time_point when) {
  static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays.at(static_cast<std::size_t>(tm.tm_wday)),
                     tm.tm_mday, kMonths.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string encode_header_text(std::string_view text) {
  if (is_plain_ascii(text)) return std::string(text);
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = std::min(text.size(), i + kEncodedWordBytes);
    // Never split a UTF-8 sequence between two encoded-words (RFC 2047 5(3)).
    while (end < text.size() && end > i + 1 &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64_encode(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string normalise_line_endings(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40 + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

std::string dot_stuff(std::string_view crlf_text) {
  std::string out;
  out.reserve(crlf_text.size() + 16);
  bool line_start = true;
  for (std::size_t i = 0; i < crlf_text.size(); ++i) {
    if (line_start && crlf_text[i] == '.') out += '.';
    out += crlf_text[i];
    line_start = crlf_text[i] == '\n' && i > 0 && crlf_text[i - 1] == '\r';
  }
  return out;
}

std::string content_type_for(std::string_view filename) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes{{
      {".txt", "text/plain"}, {".html", "text/html"}, {".csv", "text/csv"},
      {".pdf", "application/pdf"}, {".zip", "application/zip"}, {".json", "application/json"},
      {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
      {".gif", "image/gif"}, {".pcap", "application/vnd.tcpdump.pcap"}, {".gz", "application/gzip"},
  }};
  std::string lower(filename);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  for (const auto& [ext, type] : kTypes) {
    if (lower.size() >= ext.size() && lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0) {
      return std::string(type);
    }
  }
  return "application/octet-stream";
}

std::string address_of(std::string_view mailbox) {
  auto open = mailbox.rfind('<');
  auto close = mailbox.rfind('>');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    return std::string(mailbox.substr(open + 1, close - open - 1));
  }
  auto first = mailbox.find_first_not_of(" \t");
  auto last = mailbox.find_last_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return std::string(mailbox.substr(first, last - first + 1));
}

std::string build_headers(const MessageSpec& spec) {
  std::string m;
  m += "Date: " + format_date(spec.date) + "\r\n";
  m += fmt::format("Message-ID: <{}@{}>\r\n", spec.message_id_token, message_id_domain(spec.from));
  m += "From: " + one_line(spec.from) + "\r\n";
  m += "To: " + address_list(spec.to, 2) + "\r\n";
  m += "Subject: " + encode_header_text(one_line(spec.subject)) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  return m;
}

BuiltMessage build_content(const MessageSpec& spec) {
  BuiltMessage built;
  std::string& m = built.text;
  EncodedBody body = encode_body(spec.body, spec.server_has_8bitmime);
  built.needs_8bitmime = body.eight_bit;
  if (spec.attachments.empty()) {
    m += text_part_headers(body) + "\r\n" + body.text;
    return built;
  }
  std::string boundary = choose_boundary(spec, body.text);
  m += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n", boundary);
  m += "This is a multi-part message in MIME format.\r\n";
  m += "--" + boundary + "\r\n" + text_part_headers(body) + "\r\n" + body.text;
  // RFC 2046 5.1.1: the CRLF before a delimiter belongs to the delimiter, so each one after the
  // first starts with its own CRLF and the body keeps its final line break.
  for (const auto& a : spec.attachments) {
    std::string name = safe_filename(a.filename);
    m += "\r\n--" + boundary + "\r\n";
    m += fmt::format("Content-Type: {}; name=\"{}\"\r\n", a.content_type, name);
    m += "Content-Transfer-Encoding: base64\r\n";
    m += fmt::format("Content-Disposition: attachment; filename=\"{}\"\r\n\r\n", name);
    m += base64_encode(a.data, kBase64LineLength);
  }
  m += "\r\n--" + boundary + "--\r\n";
  return built;
}

BuiltMessage build_message(const MessageSpec& spec) {
  BuiltMessage built = build_content(spec);
  built.text = build_headers(spec) + built.text;
  return built;
}

}  // namespace postern::tools::send
