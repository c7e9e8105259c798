// The record file codec and its replay into a MessageState (see queue_records.hpp).
#include "smtp/spool/queue_records.hpp"

#include "smtp/spool/spool.hpp"

#include <algorithm>
#include <charconv>

namespace postern::smtp::spool {
namespace {

// Free text goes on one line between TABs: those bytes become spaces.
std::string one_field(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\t' || c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

std::optional<std::int64_t> parse_ms(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 ||
      value > kMaxUnixMs) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    std::size_t at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

std::optional<QueueRecord> decode_line(std::string_view line) {
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view verb = line.substr(0, space);
  const std::string_view rest = line.substr(space + 1);
  QueueRecord r;
  if (verb == "attempt") {
    auto parts = split(rest, ' ');
    if (parts.size() != 2) return std::nullopt;
    auto start = parse_ms(parts[0]);
    auto next = parse_ms(parts[1]);
    if (!start || !next) return std::nullopt;
    return QueueRecord::attempt(from_unix_ms(*start), from_unix_ms(*next));
  }
  if (verb == "held" || verb == "released") {
    auto at = parse_ms(rest);
    if (!at) return std::nullopt;
    return verb == "held" ? QueueRecord::held(from_unix_ms(*at))
                          : QueueRecord::released(from_unix_ms(*at));
  }
  auto fields = split(rest, '\t');
  if (fields[0].empty()) return std::nullopt;
  r.recipient = fields[0];
  if (verb == "delivered" && fields.size() == 1) {
    r.type = RecordType::delivered;
  } else if (verb == "deferred" && fields.size() == 2) {
    r.type = RecordType::deferred;
    r.reason = fields[1];
  } else if (verb == "failed" && (fields.size() == 1 || fields.size() == 6)) {
    r.type = RecordType::failed;
    if (fields.size() == 6) {
      auto at = parse_ms(fields[5]);
      if (!at) return std::nullopt;
      r.status_code = fields[1];
      r.remote_mta = fields[2];
      r.remote_reply = fields[3];
      r.reason = fields[4];
      r.at = from_unix_ms(*at);
    }
  } else {
    return std::nullopt;
  }
  return r;
}

}  // namespace

std::int64_t to_unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

WallTime from_unix_ms(std::int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

std::string_view to_string(RecordType type) {
  switch (type) {
    case RecordType::delivered: return "delivered";
    case RecordType::failed: return "failed";
    case RecordType::deferred: return "deferred";
    case RecordType::attempt: return "attempt";
    case RecordType::held: return "held";
    case RecordType::released: return "released";
  }
  return "unknown";
}

std::string_view to_string(RecipientStatus status) {
  switch (status) {
    case RecipientStatus::pending: return "pending";
    case RecipientStatus::delivered: return "delivered";
    case RecipientStatus::failed: return "failed";
  }
  return "unknown";
}

QueueRecord QueueRecord::delivered(std::string rcpt) {
  QueueRecord r;
  r.type = RecordType::delivered;
  r.recipient = std::move(rcpt);
  return r;
}

QueueRecord QueueRecord::deferred(std::string rcpt, std::string reason) {
  QueueRecord r;
  r.type = RecordType::deferred;
  r.recipient = std::move(rcpt);
  r.reason = std::move(reason);
  return r;
}

QueueRecord QueueRecord::attempt(WallTime start, WallTime next) {
  QueueRecord r;
  r.type = RecordType::attempt;
  r.at = start;
  r.next = next;
  return r;
}

QueueRecord QueueRecord::held(WallTime at) {
  QueueRecord r;
  r.type = RecordType::held;
  r.at = at;
  return r;
}

QueueRecord QueueRecord::released(WallTime at) {
  QueueRecord r;
  r.type = RecordType::released;
  r.at = at;
  return r;
}

bool recordable_address(std::string_view address) {
  return !address.empty() &&
         address.find_first_of(std::string_view("\t\r\n\0", 4)) == std::string_view::npos;
}

std::string encode_record(const QueueRecord& r) {
  std::string line(to_string(r.type));
  line.push_back(' ');
  switch (r.type) {
    case RecordType::attempt:
      line += std::to_string(to_unix_ms(r.at)) + " " + std::to_string(to_unix_ms(r.next));
      break;
    case RecordType::held:
    case RecordType::released: line += std::to_string(to_unix_ms(r.at)); break;
    case RecordType::delivered: line += r.recipient; break;
    case RecordType::deferred: line += r.recipient + "\t" + one_field(r.reason); break;
    case RecordType::failed:
      line += r.recipient + "\t" + one_field(r.status_code) + "\t" + one_field(r.remote_mta) +
              "\t" + one_field(r.remote_reply) + "\t" + one_field(r.reason) + "\t" +
              std::to_string(std::max<std::int64_t>(0, to_unix_ms(r.at)));
      break;
  }
  line.push_back('\n');
  return line;
}

std::vector<QueueRecord> decode_records(std::string_view file) {
  std::vector<QueueRecord> records;
  for (;;) {
    std::size_t eol = file.find('\n');
    if (eol == std::string_view::npos) break;  // torn tail: the record never became durable
    auto record = decode_line(file.substr(0, eol));
    file.remove_prefix(eol + 1);
    // Anything else is a torn record glued to a later one (files of the first version; the
    // spool now cuts torn tails before appending): its recipient is simply retried and the
    // delivery's own idempotence check answers.
    if (record) records.push_back(std::move(*record));
  }
  return records;
}

bool MessageState::finished() const {
  return std::none_of(recipients.begin(), recipients.end(), [](const RecipientState& r) {
    return r.status == RecipientStatus::pending;
  });
}

MessageState build_message_state(const MessageEnvelope& envelope,
                                 std::span<const QueueRecord> records) {
  MessageState state;
  for (const std::string& rcpt : envelope.recipients) {
    RecipientState r;
    r.address = rcpt;
    state.recipients.push_back(std::move(r));
  }
  auto find = [&state](const std::string& address) -> RecipientState* {
    for (RecipientState& r : state.recipients) {
      if (r.address == address) return &r;
    }
    return nullptr;
  };
  for (const QueueRecord& record : records) {
    switch (record.type) {
      case RecordType::attempt:
        ++state.attempts;
        state.last_attempt = record.at;
        state.next_attempt = record.next;
        continue;
      case RecordType::held: state.held = true; continue;
      case RecordType::released: state.held = false; continue;
      default: break;
    }
    RecipientState* r = find(record.recipient);
    if (r == nullptr || r->status != RecipientStatus::pending) continue;
    if (record.type == RecordType::deferred) {
      r->last_error = record.reason;
    } else if (record.type == RecordType::delivered) {
      r->status = RecipientStatus::delivered;
    } else {
      r->status = RecipientStatus::failed;
      if (!record.reason.empty()) r->last_error = record.reason;
      r->status_code = record.status_code;
      r->remote_mta = record.remote_mta;
      r->remote_reply = record.remote_reply;
      r->failed_at = record.at;
    }
  }
  return state;
}

}  // namespace postern::smtp::spool
