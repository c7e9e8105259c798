// Who may send what (docs/smtp-identity.md): the questions the session asks about an identity
// — the tunnel user holding the client's inner address, or the SMTP AUTH user — while it runs a
// transaction. The session owns the protocol (which reply, when); this interface owns the data
// (sender map, recipient map and aliases, per-user hourly limits). The daemon implements it over
// the files named in [smtp] (smtp/server/submission_rules.cpp); tests use a fake.
// Contract: called on the session's thread, never blocks, never throws. The hourly windows are
// the implementation's (it owns their clock, as the spool owns fsync): the session core still
// reads no clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp {

struct RateRefusal {
  std::string limit;  // "messages_per_hour" or "recipients_per_hour"
  std::uint32_t allowed = 0;
  std::chrono::seconds retry_after{0};
};

class SubmissionPolicy {
 public:
  virtual ~SubmissionPolicy() = default;
  // MAIL FROM:<sender> by `identity` (never empty, never the null sender: the session decides
  // those). false means 553 5.7.1.
  virtual bool may_send_as(std::string_view identity, std::string_view sender) const = 0;
  // RCPT TO a local domain: the mailboxes (or remote addresses, for aliases that forward) it
  // expands to; nullopt means no such recipient (550 5.1.1).
  virtual std::optional<std::vector<std::string>> resolve_local(std::string_view recipient) const = 0;
  // Would one more message with `recipients` recipients put `identity` over an hourly limit?
  // Counts a refusal when there is one (the session asks once per MAIL and per RCPT).
  virtual std::optional<RateRefusal> check_rate(std::string_view identity, std::size_t recipients) = 0;
  // A message by `identity` was accepted (250).
  virtual void record_message(std::string_view identity, std::size_t recipients) = 0;
};

}  // namespace postern::smtp
