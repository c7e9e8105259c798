// The seam between the queue and where mail ends up. MaildirDelivery is the first
// implementation; a "relay to the site MTA" delivery is meant to slot in beside it.
// Contract for implementations: deliver() is called from the queue runner's worker thread only,
// may block, never throws, and must be idempotent per (message.id, recipient): the runner may
// call it again for a recipient it already delivered when a crash hit between the delivery and
// the runner's durable "done" record. When message.recovered is set such a repeat is possible,
// and the delivery must answer `delivered` without making a second copy.
#pragma once

#include "smtp/spool/spool.hpp"

#include <string>
#include <string_view>

namespace postern::smtp::spool {

enum class DeliveryStatus {
  delivered,          // durable at the destination; the runner records it and never retries
  temporary_failure,  // retry later with backoff (disk full, destination unreachable...)
  permanent_failure,  // never retry (invalid mailbox...); recorded and logged
};
std::string_view to_string(DeliveryStatus status);

struct DeliveryResult {
  DeliveryStatus status = DeliveryStatus::temporary_failure;
  std::string detail;  // for the log: what happened, in words
};

class Delivery {
 public:
  virtual ~Delivery() = default;
  virtual DeliveryResult deliver(const QueuedMessage& message, std::string_view recipient) = 0;
};

}  // namespace postern::smtp::spool
