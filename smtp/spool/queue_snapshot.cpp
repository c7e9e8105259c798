// Queue listing from the spool's files (see queue_snapshot.hpp).
#include "smtp/spool/queue_snapshot.hpp"

#include <algorithm>

namespace postern::smtp::spool {

MessageSnapshot make_snapshot(const QueuedMessage& message, const MessageState& state) {
  MessageSnapshot s;
  s.id = message.id;
  s.sender = message.sender;
  s.queued_at = message.queued_at;
  s.size = message.message.size();
  s.attempts = state.attempts;
  s.held = state.held;
  if (!state.held) s.next_attempt = state.next_attempt;
  s.recipients = state.recipients;
  return s;
}

std::error_code list_queue_snapshot(const Spool& spool, std::vector<MessageSnapshot>& out) {
  std::vector<std::string> ids;
  if (auto ec = spool.list_ids(ids)) return ec;
  out.clear();
  for (const std::string& id : ids) {
    QueuedMessage message;
    std::vector<QueueRecord> records;
    if (spool.load(id, message, records)) continue;
    out.push_back(make_snapshot(message, build_message_state(message, records)));
  }
  std::sort(out.begin(), out.end(), [](const MessageSnapshot& a, const MessageSnapshot& b) {
    return a.queued_at != b.queued_at ? a.queued_at < b.queued_at : a.id < b.id;
  });
  return {};
}

}  // namespace postern::smtp::spool
