// What `postern queue` shows: the mail queue as plain values and its renderings — a
// mailq-style text listing for people, JSON for scripts (schema in docs/commands-queue.md,
// fields only ever added), and the long form of one message (`postern queue show ID`).
// Contract: no I/O, no clock (ages arrive as seconds), no knowledge of the spool's files; the
// daemon (status socket) and the stopped-spool reader both fill these structs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postern::cli::queue {

struct RecipientEntry {
  std::string address;
  std::string state;       // "pending", "delivered", "failed"
  std::string last_error;  // the last temporary or permanent failure, "" if none
};

struct MessageEntry {
  std::string id;
  std::string sender;  // "" = null sender (a bounce)
  double age_seconds = 0;
  std::uint64_t size = 0;  // bytes of the queued message
  std::uint32_t attempts = 0;
  std::optional<double> next_attempt_in_seconds;  // nullopt: held, or due now
  bool held = false;
  std::vector<RecipientEntry> recipients;
};

struct QueueListing {
  static constexpr int kSchema = 1;
  std::string source;  // "daemon" (live) or "spool" (read from a stopped server's files)
  std::vector<MessageEntry> messages;  // oldest first
};

std::string format_text(const QueueListing& listing);
std::string format_json(const QueueListing& listing);
// The long form of one message, or nullopt when the listing does not hold `id`.
std::optional<std::string> format_message(const QueueListing& listing, const std::string& id);

}  // namespace postern::cli::queue
