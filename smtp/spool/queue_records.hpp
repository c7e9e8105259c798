// The per-message record file, queue/<id>.done: an append-only journal of what happened to a
// queued message, and the state decoded from it. It is what makes the queue survive restarts
// and kill -9: attempts, next attempt, hold, each recipient's outcome and last error.
//
// One record per line ('\n'); fields after the recipient are TAB-separated, times are unix
// milliseconds (wall clock: they must mean the same after a restart):
//   delivered <rcpt>
//   failed <rcpt>[\t<status>\t<remote-mta>\t<remote-reply>\t<detail>\t<unix-ms>]
//   deferred <rcpt>\t<reason>
//   attempt <unix-ms-start> <unix-ms-next>     one per attempt that left recipients pending
//   held <unix-ms> / released <unix-ms>
// "delivered <rcpt>" and a bare "failed <rcpt>" are the lines of the first version; they stay
// valid. Addresses never hold TAB/CR/LF/NUL (RFC 5321 4.1.2 forbids them; the spool refuses
// them), free text has those bytes replaced by spaces when encoded.
//
// Decoding contract: a last line without '\n' is a torn write and is ignored; a line that is
// not a record (a torn write glued to later data, an operator's edit) is skipped; a recipient's
// first delivered/failed record is final. Pure code: no I/O, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp::spool {

struct MessageEnvelope;
using WallTime = std::chrono::system_clock::time_point;

// Times in files are accepted up to the end of year 2199: system_clock counts nanoseconds in a
// signed 64-bit integer (libstdc++), which overflows in 2262 (found by fuzz_spool_file).
constexpr std::int64_t kMaxUnixMs = 7'258'118'399'999;
std::int64_t to_unix_ms(WallTime t);
WallTime from_unix_ms(std::int64_t ms);

enum class RecordType { delivered, failed, deferred, attempt, held, released };
std::string_view to_string(RecordType type);

struct QueueRecord {
  RecordType type = RecordType::delivered;
  std::string recipient;     // delivered, failed, deferred
  std::string reason;        // deferred: the error; failed: the detail ("queue lifetime exceeded")
  std::string status_code;   // failed: RFC 3463 status ("5.1.1"), "" if unknown
  std::string remote_mta;    // failed: the relay that refused it, "" when local
  std::string remote_reply;  // failed: the relay's reply as received, "" when local
  WallTime at{};             // failed: when; attempt: start; held/released: when
  WallTime next{};           // attempt: when the next one is due

  static QueueRecord delivered(std::string rcpt);
  static QueueRecord deferred(std::string rcpt, std::string reason);
  static QueueRecord attempt(WallTime start, WallTime next);
  static QueueRecord held(WallTime at);
  static QueueRecord released(WallTime at);
};

// One line, '\n'-terminated. Does not validate the recipient (Spool::append_records does).
std::string encode_record(const QueueRecord& record);
std::vector<QueueRecord> decode_records(std::string_view file);
// True when `address` can be written into a record line (no TAB, CR, LF, NUL).
bool recordable_address(std::string_view address);

enum class RecipientStatus { pending, delivered, failed };
std::string_view to_string(RecipientStatus status);

struct RecipientState {
  std::string address;
  RecipientStatus status = RecipientStatus::pending;
  std::string last_error;  // last deferral reason or the failure detail, "" if none
  // Failed only: what a bounce needs (see QueueRecord).
  std::string status_code;
  std::string remote_mta;
  std::string remote_reply;
  WallTime failed_at{};
};

struct MessageState {
  std::uint32_t attempts = 0;             // attempts that left recipients pending
  std::optional<WallTime> last_attempt;   // start of the last such attempt
  std::optional<WallTime> next_attempt;   // as scheduled by it
  bool held = false;
  std::vector<RecipientState> recipients;  // envelope order

  bool finished() const;  // no recipient pending
};

// Replays the records over the envelope's recipients (records naming other addresses are
// ignored).
MessageState build_message_state(const MessageEnvelope& envelope,
                                 std::span<const QueueRecord> records);

}  // namespace postern::smtp::spool
