// The daemon's SubmissionPolicy (smtp/core/submission_policy.hpp) over the files named in
// [smtp]: the sender map (`senders`), the recipient map (`recipients`) and the hourly limits
// (`messages_per_hour`, `recipients_per_hour`). See docs/smtp-identity.md.
// Contract: load() reads the files (throws std::runtime_error naming file:line); reload()
// (SIGHUP) swaps in freshly read maps only when both load, else keeps the old ones and
// rethrows. Every method runs on the io thread (sessions live there), so there are no locks.
#pragma once

#include "common/config.hpp"
#include "smtp/core/rate_limit.hpp"
#include "smtp/core/recipient_map.hpp"
#include "smtp/core/sender_map.hpp"
#include "smtp/core/submission_policy.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace postern::smtp::server {

class SubmissionRules : public SubmissionPolicy {
 public:
  explicit SubmissionRules(const config::SmtpConfig& config);

  void load();
  void reload();

  bool may_send_as(std::string_view identity, std::string_view sender) const override;
  std::optional<std::vector<std::string>> resolve_local(std::string_view recipient) const override;
  std::optional<RateRefusal> check_rate(std::string_view identity, std::size_t recipients) override;
  void record_message(std::string_view identity, std::size_t recipients) override;

  // For `postern status`: refusals per limit, and what is loaded.
  std::uint64_t rate_refusals(RateLimit limit) const { return limiter_.refusals(limit); }
  std::size_t senders_loaded() const { return senders_ ? senders_->size() : 0; }
  std::size_t recipients_loaded() const { return recipients_ ? recipients_->size() : 0; }

 private:
  const config::SmtpConfig& config_;
  std::optional<SenderMap> senders_;
  std::optional<RecipientMap> recipients_;
  UserRateLimiter limiter_;
};

}  // namespace postern::smtp::server
