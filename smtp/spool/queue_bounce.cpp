// The queue runner's bounce step (see queue_runner.hpp "Finishing a message"): one DSN for
// every failed recipient whose NOTIFY allows it, stored under a deterministic id before the
// original is removed, so a crash between the two never loses nor doubles it.
#include "smtp/spool/dsn.hpp"
#include "smtp/spool/queue_runner.hpp"

#include "common/log.hpp"

namespace postern::smtp::spool {
namespace {

constexpr std::string_view kLog = "smtp";

std::vector<DsnRecipient> reportable(const QueuedMessage& message, const MessageState& state) {
  std::vector<DsnRecipient> out;
  for (std::size_t i = 0; i < state.recipients.size(); ++i) {
    const RecipientState& r = state.recipients[i];
    if (r.status != RecipientStatus::failed) continue;
    // The state follows envelope order, so i indexes the envelope's params too.
    const RecipientParams& params = message.params(i);
    if (!notify_on_failure(params)) {
      log::info(kLog, message.id, "bounce_not_requested", {{"to", r.address}, {"notify", params.notify}});
      continue;
    }
    out.push_back({r.address, params.orcpt, r.status_code, r.remote_mta, r.remote_reply,
                   r.last_error, r.failed_at});
  }
  return out;
}

}  // namespace

bool QueueRunner::store_bounce(const QueuedMessage& message, const MessageState& state,
                               TimePoint now) {
  if (message.sender.empty()) {
    for (const RecipientState& r : state.recipients) {
      if (r.status != RecipientStatus::failed) continue;
      // RFC 3461 / RFC 5321 6.1: a notification about a notification is never sent.
      log::warn(kLog, message.id, "bounce_dropped",
                {{"to", r.address}, {"reason", "null sender (the message is itself a bounce)"}});
    }
    return true;
  }
  DsnInput in;
  in.recipients = reportable(message, state);
  if (in.recipients.empty()) return true;
  const std::string id = bounce_id(message.id);
  in.reporting_mta = policy_.reporting_mta;
  in.original_sender = message.sender;
  in.original_id = message.id;
  in.envid = message.dsn_envid;
  in.arrival = message.queued_at;
  in.date = now;
  in.unique = id + "." + std::to_string(to_unix_ms(now));
  in.full_message = message.dsn_ret == "FULL";
  in.original = message.message;

  MessageEnvelope envelope;
  envelope.recipients = {message.sender};
  envelope.queued_at = now;
  // The returned headers (or message) travel as they came: 8-bit and UTF-8 included.
  envelope.eight_bit = message.eight_bit || message.smtputf8;
  envelope.smtputf8 = message.smtputf8;
  std::error_code ec = spool_.store_as(id, envelope, build_dsn(in));
  if (ec == make_error_code(errc::id_collision)) {
    // Stored by an earlier run that crashed before removing the original.
    log::info(kLog, message.id, "bounce_already_queued", {{"dsn", id}});
  } else if (ec) {
    log::error(kLog, message.id, "bounce_store_failed", {{"error", ec.message()}, {"effect", "will retry"}});
    return false;
  } else {
    log::info(kLog, message.id, "bounced",
              {{"dsn", id}, {"to", message.sender}, {"failed", in.recipients.size()}});
    std::lock_guard lock(mutex_);
    ++stats_.bounced;
  }
  std::lock_guard lock(mutex_);
  entries_.try_emplace(id, Entry{now, now, ec.operator bool(), false});
  notified_ = true;
  return true;
}

}  // namespace postern::smtp::spool
