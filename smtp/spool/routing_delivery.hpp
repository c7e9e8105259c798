// Picks the destination per recipient: a local domain goes to the local delivery (Maildir),
// every other domain to the relay (the site's MTA), or fails when no relay is configured.
// Contract: one deliver() call per destination with its subset of the recipients (so the relay
// sends the message once for all of them), results merged back in the caller's order. The
// domain is what follows the last '@', compared case-insensitively (RFC 5321 2.4).
#pragma once

#include "smtp/spool/delivery.hpp"

#include <string>
#include <vector>

namespace postern::smtp::spool {

class RoutingDelivery : public Delivery {
 public:
  // `local_domains` lower-case; `relay` may be null (no [smtp.relay]): non-local recipients
  // then fail permanently (5.4.4, RFC 3463 "unable to route").
  RoutingDelivery(std::vector<std::string> local_domains, Delivery& local, Delivery* relay);

  std::vector<DeliveryResult> deliver(const QueuedMessage& message,
                                      std::span<const std::string> recipients) override;
  void idle() override;

  bool is_local(std::string_view recipient) const;

 private:
  std::vector<std::string> local_domains_;
  Delivery& local_;
  Delivery* relay_;
};

}  // namespace postern::smtp::spool
