// The queue file's envelope header: encoding, decoding and validation (format in spool.hpp).
#include "smtp/spool/spool.hpp"

#include <algorithm>
#include <charconv>

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kMagic = "postern-spool 1\n";

bool header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool valid_params(const RecipientParams& p) {
  return header_value(p.notify) && header_value(p.orcpt);
}

const RecipientParams& no_params() {
  static const RecipientParams none;
  return none;
}

bool parse_queued(std::string_view text, MessageEnvelope& out) {
  std::int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || ms < 0 ||
      ms > kMaxUnixMs) {
    return false;
  }
  out.queued_at = from_unix_ms(ms);
  return true;
}

// One header line into `out`; false if it is not one.
bool decode_line(std::string_view line, QueuedMessage& out, bool& have_sender, bool& have_params) {
  if (line == "body 8bitmime") {
    out.eight_bit = true;
    return true;
  }
  if (line == "smtputf8") {
    out.smtputf8 = true;
    return true;
  }
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view key = line.substr(0, space);
  const std::string_view value = line.substr(space + 1);
  if (key == "sender") {
    out.sender = value;
    have_sender = true;
  } else if (key == "recipient") {
    out.recipients.emplace_back(value);
    out.recipient_params.emplace_back();
  } else if (key == "notify" || key == "orcpt") {
    if (out.recipients.empty()) return false;  // they belong to the recipient line above
    if (value.empty()) return false;           // encode_envelope() never writes an empty one
    RecipientParams& p = out.recipient_params.back();
    (key == "notify" ? p.notify : p.orcpt) = value;
    have_params = true;
  } else if (key == "queued") {
    return parse_queued(value, out);
  } else if (key == "ret") {
    if (value != "FULL" && value != "HDRS") return false;
    out.dsn_ret = value;
  } else if (key == "envid") {
    out.dsn_envid = value;
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool is_queue_id(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

const RecipientParams& MessageEnvelope::params(std::size_t i) const {
  return i < recipient_params.size() ? recipient_params[i] : no_params();
}

std::error_code normalize_envelope(const MessageEnvelope& in, MessageEnvelope& out) {
  const auto invalid = make_error_code(errc::invalid_envelope);
  if (in.recipients.empty()) return invalid;
  if (!in.recipient_params.empty() && in.recipient_params.size() != in.recipients.size()) {
    return invalid;
  }
  // The sender goes into record-free header lines only, but SMTP forbids TAB there too.
  if (!in.sender.empty() && !recordable_address(in.sender)) return invalid;
  if (in.dsn_ret != "" && in.dsn_ret != "FULL" && in.dsn_ret != "HDRS") return invalid;
  if (!header_value(in.dsn_envid)) return invalid;
  out = in;
  out.recipients.clear();
  out.recipient_params.clear();
  bool any_params = false;
  for (std::size_t i = 0; i < in.recipients.size(); ++i) {
    const std::string& rcpt = in.recipients[i];
    if (!recordable_address(rcpt) || !valid_params(in.params(i))) return invalid;
    if (std::find(out.recipients.begin(), out.recipients.end(), rcpt) != out.recipients.end()) {
      continue;
    }
    out.recipients.push_back(rcpt);
    out.recipient_params.push_back(in.params(i));
    any_params = any_params || !in.params(i).notify.empty() || !in.params(i).orcpt.empty();
  }
  if (!any_params) out.recipient_params.clear();
  return {};
}

std::string encode_envelope(const MessageEnvelope& e) {
  std::string out(kMagic);
  out.append("sender ").append(e.sender).append("\n");
  if (e.queued_at != WallTime{}) {
    out.append("queued ").append(std::to_string(to_unix_ms(e.queued_at))).append("\n");
  }
  if (e.eight_bit) out.append("body 8bitmime\n");
  if (e.smtputf8) out.append("smtputf8\n");
  if (!e.dsn_ret.empty()) out.append("ret ").append(e.dsn_ret).append("\n");
  if (!e.dsn_envid.empty()) out.append("envid ").append(e.dsn_envid).append("\n");
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    out.append("recipient ").append(e.recipients[i]).append("\n");
    const RecipientParams& p = e.params(i);
    if (!p.notify.empty()) out.append("notify ").append(p.notify).append("\n");
    if (!p.orcpt.empty()) out.append("orcpt ").append(p.orcpt).append("\n");
  }
  out.append("\n");
  return out;
}

namespace {

// Parses the envelope header into `out`; returns the offset of the message, or npos if malformed.
std::size_t decode_header(std::string_view file, QueuedMessage& out) {
  if (!file.starts_with(kMagic)) return std::string_view::npos;
  std::size_t pos = kMagic.size();
  static_cast<MessageEnvelope&>(out) = MessageEnvelope{};
  bool have_sender = false;
  bool have_params = false;
  for (;;) {
    std::size_t eol = file.find('\n', pos);
    if (eol == std::string_view::npos) return std::string_view::npos;
    std::string_view line = file.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) break;
    if (!decode_line(line, out, have_sender, have_params)) return std::string_view::npos;
  }
  if (!have_sender || out.recipients.empty()) return std::string_view::npos;
  if (!have_params) out.recipient_params.clear();
  return pos;
}

}  // namespace

bool decode_queue_file(std::string_view file, QueuedMessage& out) {
  const std::size_t body = decode_header(file, out);
  if (body == std::string_view::npos) return false;
  out.message.assign(file.substr(body));
  return true;
}

bool decode_queue_file_owned(std::string&& file, QueuedMessage& out) {
  const std::size_t body = decode_header(file, out);
  if (body == std::string_view::npos) return false;
  file.erase(0, body);  // in place: the header is a few hundred bytes
  out.message = std::move(file);
  return true;
}

}  // namespace postern::smtp::spool
