// The seam between the queue and where mail ends up: MaildirDelivery (local domains),
// relay::RelayDelivery (the site's MTA) and RoutingDelivery (picks one of them per recipient).
// Contract for implementations: deliver() is called from the queue runner's worker thread only,
// may block, never throws, answers one RecipientResult per recipient passed (same order), and
// must be idempotent per (message.id, recipient) where the destination allows it: the runner may
// call it again for a recipient it already delivered when a crash hit between the delivery and
// the runner's durable record. When message.recovered is set such a repeat is possible; Maildir
// answers `delivered` without a second copy, a relay cannot tell (docs/smtp-delivery.md states
// that window).
// idle() is called when the runner has nothing more due right now: a delivery that keeps
// connections open for reuse closes them there.
#pragma once

#include "smtp/spool/spool.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::smtp::spool {

enum class DeliveryStatus {
  delivered,          // durable at the destination; the runner records it and never retries
  temporary_failure,  // retry later with backoff (disk full, destination unreachable...)
  permanent_failure,  // never retry (invalid mailbox, 5xx from the relay...); bounced
};
std::string_view to_string(DeliveryStatus status);

struct DeliveryResult {
  DeliveryStatus status = DeliveryStatus::temporary_failure;
  std::string detail;  // for the log and `postern queue`: what happened, in words
  // For the delivery status notification (RFC 3464 2.3): the RFC 3463 status ("5.1.1"; empty:
  // 2.0.0 / 4.0.0 / 5.0.0 by status), the remote MTA ("mx1.site.example", empty when local)
  // and its reply as received ("550 5.1.1 <x@y>: Recipient address rejected").
  std::string status_code;
  std::string remote_mta;
  std::string remote_reply;
};

// A result without remote details (local deliveries, internal errors). Added for the spool.
inline DeliveryResult make_result(DeliveryStatus status, std::string detail,
                                  std::string status_code = {}) {
  DeliveryResult r;
  r.status = status;
  r.detail = std::move(detail);
  r.status_code = std::move(status_code);
  return r;
}

class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual std::vector<DeliveryResult> deliver(const QueuedMessage& message,
                                              std::span<const std::string> recipients) = 0;
  virtual void idle() {}
};

}  // namespace postern::smtp::spool
