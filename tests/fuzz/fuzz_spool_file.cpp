// Fuzzes the spool's file decoders (smtp/spool/spool.hpp, queue_records.hpp):
// decode_queue_file() reads files that survived a crash (torn, truncated, or edited by an
// operator), decode_records() the per-message record file, build_message_state() replays the
// records. None may crash. Invariants: an accepted queue file re-encodes (encode_envelope +
// message) to a file that decodes to the same envelope and message; a record file never yields
// more records than it has complete lines, and its records re-encode to text that decodes to
// the same number of records and re-encodes identically (encoding is a fixed point after one
// pass: free text loses its control bytes once); the state has one entry per recipient.
#include "smtp/spool/queue_records.hpp"
#include "smtp/spool/spool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postern::smtp::spool;

namespace {

bool same_envelope(const QueuedMessage& a, const QueuedMessage& b) {
  if (a.sender != b.sender || a.recipients != b.recipients || a.message != b.message ||
      a.dsn_ret != b.dsn_ret || a.dsn_envid != b.dsn_envid || a.eight_bit != b.eight_bit ||
      a.smtputf8 != b.smtputf8 || a.queued_at != b.queued_at ||
      a.recipient_params.size() != b.recipient_params.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.recipient_params.size(); ++i) {
    if (a.recipient_params[i].notify != b.recipient_params[i].notify ||
        a.recipient_params[i].orcpt != b.recipient_params[i].orcpt) {
      return false;
    }
  }
  return true;
}

std::string encode_all(const std::vector<QueueRecord>& records) {
  std::string out;
  for (const QueueRecord& r : records) out += encode_record(r);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  QueuedMessage message;
  const bool is_queue_file = decode_queue_file(text, message);
  if (is_queue_file) {
    if (message.recipients.empty()) std::abort();
    if (!message.recipient_params.empty() &&
        message.recipient_params.size() != message.recipients.size()) {
      std::abort();
    }
    const std::string again = encode_envelope(message) + message.message;
    QueuedMessage second;
    if (!decode_queue_file(again, second) || !same_envelope(message, second)) std::abort();
  }
  const auto records = decode_records(text);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  if (records.size() > lines) std::abort();
  const std::string encoded = encode_all(records);
  const auto reread = decode_records(encoded);
  if (reread.size() != records.size() || encode_all(reread) != encoded) std::abort();
  MessageEnvelope envelope;
  envelope.recipients = is_queue_file ? message.recipients : std::vector<std::string>{"a@x", "b@x"};
  const MessageState state = build_message_state(envelope, records);
  if (state.recipients.size() != envelope.recipients.size()) std::abort();
  return 0;
}
