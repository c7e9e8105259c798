// SubmissionRules (see submission_rules.hpp).
#include "smtp/server/submission_rules.hpp"

#include "common/log.hpp"

#include <chrono>

namespace postern::smtp::server {

SubmissionRules::SubmissionRules(const config::SmtpConfig& config)
    : config_(config), limiter_(RateLimits{config.messages_per_hour, config.recipients_per_hour}) {}

void SubmissionRules::load() {
  std::optional<SenderMap> senders;
  std::optional<RecipientMap> recipients;
  if (config_.senders) senders = load_sender_map(config_.senders->string());
  if (config_.recipients) recipients = load_recipient_map(config_.recipients->string(), config_.domains);
  senders_ = std::move(senders);
  recipients_ = std::move(recipients);
}

void SubmissionRules::reload() { load(); }

bool SubmissionRules::may_send_as(std::string_view identity, std::string_view sender) const {
  if (!config_.sender_check) return true;
  if (SenderMap::default_allowed(identity, sender, config_.domains)) return true;
  return senders_ && senders_->may_send_as(identity, sender);
}

std::optional<std::vector<std::string>> SubmissionRules::resolve_local(std::string_view recipient) const {
  if (!recipients_) return std::vector<std::string>{std::string(recipient)};
  return recipients_->resolve(recipient);
}

std::optional<RateRefusal> SubmissionRules::check_rate(std::string_view identity, std::size_t recipients) {
  const auto now = UserRateLimiter::Clock::now();
  const auto verdict = limiter_.check(identity, static_cast<std::uint32_t>(recipients), now);
  if (verdict.ok()) return std::nullopt;
  limiter_.note_refusal(identity, *verdict.exceeded);
  return RateRefusal{std::string(to_string(*verdict.exceeded)), verdict.limit, verdict.retry_after(now)};
}

void SubmissionRules::record_message(std::string_view identity, std::size_t recipients) {
  limiter_.record(identity, static_cast<std::uint32_t>(recipients), UserRateLimiter::Clock::now());
}

}  // namespace postern::smtp::server
