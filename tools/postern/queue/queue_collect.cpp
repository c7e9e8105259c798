// Queue listings and the daemon's answers to queue requests (see queue_collect.hpp).
#include "tools/postern/queue/queue_collect.hpp"

#include "common/log.hpp"
#include "smtp/server/smtp_service.hpp"

namespace postern::cli::queue {
namespace {

double seconds_between(std::chrono::system_clock::time_point from, std::chrono::system_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The log event of an operator's queue command (event names are literals, see common/log.hpp).
log::EventName queue_event(status::QueueRequest::Verb verb) {
  using Verb = status::QueueRequest::Verb;
  switch (verb) {
    case Verb::hold: return "queue_hold";
    case Verb::release: return "queue_release";
    case Verb::remove: return "queue_remove";
    default: return "queue_retry";
  }
}

}  // namespace

QueueListing make_listing(const std::vector<smtp::spool::MessageSnapshot>& messages, std::string source,
                          std::chrono::system_clock::time_point now) {
  QueueListing listing;
  listing.source = std::move(source);
  for (const auto& m : messages) {
    MessageEntry e;
    e.id = m.id;
    e.sender = m.sender;
    e.age_seconds = std::max(0.0, seconds_between(m.queued_at, now));
    e.size = m.size;
    e.attempts = m.attempts;
    e.held = m.held;
    if (!m.held && m.next_attempt && *m.next_attempt > now) e.next_attempt_in_seconds = seconds_between(now, *m.next_attempt);
    for (const auto& r : m.recipients) {
      e.recipients.push_back({r.address, std::string(smtp::spool::to_string(r.status)), r.last_error});
    }
    listing.messages.push_back(std::move(e));
  }
  return listing;
}

std::string answer_queue_request(smtp::server::SmtpService& smtp, const status::QueueRequest& request) {
  using Verb = status::QueueRequest::Verb;
  const std::string& id = request.id;
  if (request.verb == Verb::list || request.verb == Verb::show) {
    const bool json = request.format == status::Format::json;
    QueueListing listing = make_listing(smtp.queue_list(), "daemon", std::chrono::system_clock::now());
    if (request.verb == Verb::list) return json ? format_json(listing) : format_text(listing);
    auto text = format_message(listing, id);
    if (!text) return "error: no message " + id + " in the queue\n";
    if (!json) return *text;
    for (auto& m : listing.messages) {
      if (m.id == id) return format_json(QueueListing{"daemon", {m}});
    }
    return "error: no message " + id + " in the queue\n";
  }
  if (request.verb == Verb::retry_all) {
    const std::size_t n = smtp.queue_retry_all();
    log::info("smtp", "-", "queue_retry", {{"messages", n}, {"by", "operator"}});
    return "retrying " + std::to_string(n) + " message" + (n == 1 ? "" : "s") + "\n";
  }
  bool known = false;
  if (request.verb == Verb::retry) known = smtp.queue_retry(id);
  else if (request.verb == Verb::hold) known = smtp.queue_hold(id);
  else if (request.verb == Verb::release) known = smtp.queue_release(id);
  else if (request.verb == Verb::remove) known = smtp.queue_remove(id);
  if (!known) return "error: no message " + id + " in the queue\n";
  const std::string verb(status::to_string(request.verb));
  log::info("smtp", id, queue_event(request.verb), {{"by", "operator"}});
  return verb + ": " + id + "\n";
}

}  // namespace postern::cli::queue
