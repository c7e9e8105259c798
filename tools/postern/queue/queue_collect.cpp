// Queue listings and the daemon's answers to queue requests (see queue_collect.hpp).
#include "tools/postern/queue/queue_collect.hpp"

#include "common/log.hpp"
#include "smtp/server/smtp_service.hpp"

#include <sstream>

namespace postern::cli::queue {
namespace {

double seconds_between(std::chrono::system_clock::time_point from, std::chrono::system_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

std::vector<std::string> words(std::string_view request) {
  std::istringstream in{std::string(request)};
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
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

std::string answer_queue_request(smtp::server::SmtpService& smtp, std::string_view request) {
  const std::vector<std::string> w = words(request);
  if (w.empty() || w[0] != "queue") return "";
  if (w.size() < 2) return "error: queue request without a verb\n";
  const std::string& verb = w[1];
  if (verb == "list" || verb == "show") {
    const bool show = verb == "show";
    const std::size_t format_at = show ? 3 : 2;
    if (w.size() != format_at + 1 || (w[format_at] != "json" && w[format_at] != "text") || (show && !valid_id(w[2]))) {
      return "error: expected \"queue list json|text\" or \"queue show ID json|text\"\n";
    }
    QueueListing listing = make_listing(smtp.queue_list(), "daemon", std::chrono::system_clock::now());
    if (!show) return w[2] == "json" ? format_json(listing) : format_text(listing);
    auto text = format_message(listing, w[2]);
    if (!text) return "error: no message " + w[2] + " in the queue\n";
    if (w[3] == "text") return *text;
    for (auto& m : listing.messages) {
      if (m.id == w[2]) return format_json(QueueListing{"daemon", {m}});
    }
    return "error: no message " + w[2] + " in the queue\n";
  }
  if (w.size() != 3) return "error: expected \"queue " + verb + " ID\"\n";
  const std::string& id = w[2];
  if (verb == "retry" && id == "all") {
    const std::size_t n = smtp.queue_retry_all();
    log::info("smtp", "-", "queue_retry", {{"messages", n}, {"by", "operator"}});
    return "retrying " + std::to_string(n) + " message" + (n == 1 ? "" : "s") + "\n";
  }
  if (!valid_id(id)) return "error: \"" + id + "\" is not a queue id\n";
  bool known = false;
  if (verb == "retry") known = smtp.queue_retry(id);
  else if (verb == "hold") known = smtp.queue_hold(id);
  else if (verb == "release") known = smtp.queue_release(id);
  else if (verb == "delete") known = smtp.queue_remove(id);
  else return "error: unknown queue verb \"" + verb + "\" (list, show, retry, hold, release, delete)\n";
  if (!known) return "error: no message " + id + " in the queue\n";
  log::info("smtp", id, "queue_" + verb, {{"by", "operator"}});
  return verb + ": " + id + "\n";
}

}  // namespace postern::cli::queue
