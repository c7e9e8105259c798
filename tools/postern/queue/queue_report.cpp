// Renderings of the mail queue (see queue_report.hpp). The text form follows Postfix's mailq:
// one block per message (id, size, age, sender), then each recipient with its state and the
// last error in parentheses, so an operator used to Postfix reads it without a manual.
#include "tools/postern/queue/queue_report.hpp"

#include "tools/postern/status/status_report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace postern::cli::queue {
namespace {

using status::format_age;
using status::json_string;

std::string sender_text(const std::string& sender) { return sender.empty() ? "<> (bounce)" : sender; }

std::string when_text(const MessageEntry& m) {
  if (m.held) return "held";
  if (!m.next_attempt_in_seconds) return "due now";
  return "next attempt in " + format_age(*m.next_attempt_in_seconds);
}

std::string json_double(double v) {
  if (!std::isfinite(v)) v = 0;
  return fmt::format("{:.3f}", v);
}

std::string json_message(const MessageEntry& m) {
  std::string rcpts;
  for (std::size_t i = 0; i < m.recipients.size(); ++i) {
    const RecipientEntry& r = m.recipients[i];
    rcpts += fmt::format("{}{{\"address\": {}, \"state\": {}, \"last_error\": {}}}", i == 0 ? "" : ", ",
                         json_string(r.address), json_string(r.state), json_string(r.last_error));
  }
  return fmt::format(
      "{{\"id\": {}, \"sender\": {}, \"age_seconds\": {}, \"size\": {}, \"attempts\": {}, "
      "\"next_attempt_in_seconds\": {}, \"held\": {}, \"recipients\": [{}]}}",
      json_string(m.id), json_string(m.sender), json_double(m.age_seconds), m.size, m.attempts,
      m.next_attempt_in_seconds ? json_double(*m.next_attempt_in_seconds) : "null", m.held ? "true" : "false",
      rcpts);
}

}  // namespace

std::string format_text(const QueueListing& listing) {
  if (listing.messages.empty()) return "Mail queue is empty\n";
  std::string out = fmt::format("{:<18} {:>8} {:>7}  {}\n", "Queue ID", "Size", "Age", "Sender/Recipient");
  std::size_t pending = 0;
  for (const MessageEntry& m : listing.messages) {
    out += fmt::format("{:<18} {:>8} {:>7}  {}\n", m.id + (m.held ? "!" : ""), m.size, format_age(m.age_seconds),
                       sender_text(m.sender));
    for (const RecipientEntry& r : m.recipients) {
      if (r.state == "pending") ++pending;
      out += fmt::format("{:<36}  {} [{}]\n", "", r.address, r.state);
      if (!r.last_error.empty()) out += fmt::format("{:<36}    ({})\n", "", r.last_error);
    }
    out += fmt::format("{:<36}  attempts {}, {}\n\n", "", m.attempts, when_text(m));
  }
  out += fmt::format("-- {} message{}, {} recipient{} pending ({}; ! = held)\n", listing.messages.size(),
                     listing.messages.size() == 1 ? "" : "s", pending, pending == 1 ? "" : "s",
                     listing.source == "spool" ? "read from the spool: the server is not running" : "from the running server");
  return out;
}

std::string format_json(const QueueListing& listing) {
  std::string messages;
  for (std::size_t i = 0; i < listing.messages.size(); ++i) {
    messages += (i == 0 ? "" : ", ") + json_message(listing.messages[i]);
  }
  return fmt::format("{{\"schema\": {}, \"source\": {}, \"messages\": [{}]}}\n", QueueListing::kSchema,
                     json_string(listing.source), messages);
}

std::optional<std::string> format_message(const QueueListing& listing, const std::string& id) {
  for (const MessageEntry& m : listing.messages) {
    if (m.id != id) continue;
    std::string out = fmt::format("id:        {}\nsender:    {}\nsize:      {} bytes\nage:       {}\n"
                                  "attempts:  {}\nstate:     {}\n",
                                  m.id, sender_text(m.sender), m.size, format_age(m.age_seconds), m.attempts,
                                  when_text(m));
    for (const RecipientEntry& r : m.recipients) {
      out += fmt::format("recipient: {} [{}]{}\n", r.address, r.state,
                         r.last_error.empty() ? "" : "\n           last error: " + r.last_error);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace postern::cli::queue
