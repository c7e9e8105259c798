// What `postern queue` lists: one plain snapshot per queued message, read from the spool's
// files. The running server's QueueRunner::list() returns the same (with its in-memory
// schedule); list_queue_snapshot() reads a stopped server's spool without changing anything in
// it (no open(), no cleanup). Blocking file I/O; no clock (ages are the caller's business).
#pragma once

#include "smtp/spool/spool.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace postern::smtp::spool {

struct MessageSnapshot {
  std::string id;
  std::string sender;  // "" = null sender (a bounce)
  WallTime queued_at{};
  std::uint64_t size = 0;  // bytes of the queued message
  std::uint32_t attempts = 0;
  std::optional<WallTime> next_attempt;  // nullopt: held, or never attempted (due now)
  bool held = false;
  std::vector<RecipientState> recipients;  // envelope order, with state and last error
};

MessageSnapshot make_snapshot(const QueuedMessage& message, const MessageState& state);

// Every readable message of the spool, oldest first. A message removed while listing is
// skipped; an unreadable one is skipped too (the runner logs it when it meets it).
std::error_code list_queue_snapshot(const Spool& spool, std::vector<MessageSnapshot>& out);

}  // namespace postern::smtp::spool
