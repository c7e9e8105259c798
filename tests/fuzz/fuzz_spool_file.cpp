// Fuzzes the spool's file decoders (smtp/spool/spool.hpp): decode_queue_file() reads files that
// survived a crash (torn, truncated, or edited by an operator) and decode_done_file() the
// per-recipient journal. Neither may crash. Invariant: an accepted queue file re-encodes
// (encode_envelope + message) to a file that decodes to the same envelope and message, and a
// .done file never yields more records than it has complete lines.
#include "smtp/spool/spool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postern::smtp::spool;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  QueuedMessage message;
  if (decode_queue_file(text, message)) {
    if (message.recipients.empty()) std::abort();
    const std::string again = encode_envelope(message.sender, message.recipients) + message.message;
    QueuedMessage second;
    if (!decode_queue_file(again, second)) std::abort();
    if (second.sender != message.sender || second.recipients != message.recipients ||
        second.message != message.message) {
      std::abort();
    }
  }
  const auto records = decode_done_file(text);
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  if (records.size() > lines) std::abort();
  return 0;
}
