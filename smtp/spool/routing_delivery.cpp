// Per-recipient routing between the local delivery and the relay (see routing_delivery.hpp).
#include "smtp/spool/routing_delivery.hpp"

#include "common/log.hpp"

#include <algorithm>

namespace postern::smtp::spool {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view domain_of(std::string_view address) {
  std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

// One destination's subset, delivered in one call, its results put back at their positions.
void deliver_subset(Delivery& delivery, const QueuedMessage& message,
                    std::span<const std::string> recipients, const std::vector<std::size_t>& index,
                    std::vector<DeliveryResult>& results) {
  if (index.empty()) return;
  std::vector<std::string> subset;
  for (std::size_t i : index) subset.push_back(recipients[i]);
  std::vector<DeliveryResult> got = delivery.deliver(message, subset);
  if (got.size() != subset.size()) {
    // A bug in the delivery: log it and retry those recipients rather than guess.
    log::error("smtp", message.id, "delivery_result_mismatch",
               {{"expected", subset.size()}, {"got", got.size()}});
  }
  for (std::size_t k = 0; k < index.size(); ++k) {
    results[index[k]] = k < got.size()
                            ? std::move(got[k])
                            : make_result(DeliveryStatus::temporary_failure,
                                          "internal error: no result for this recipient");
  }
}

}  // namespace

RoutingDelivery::RoutingDelivery(std::vector<std::string> local_domains, Delivery& local,
                                 Delivery* relay)
    : local_domains_(std::move(local_domains)), local_(local), relay_(relay) {
  for (std::string& d : local_domains_) d = lower(d);
}

bool RoutingDelivery::is_local(std::string_view recipient) const {
  const std::string domain = lower(domain_of(recipient));
  return std::find(local_domains_.begin(), local_domains_.end(), domain) != local_domains_.end();
}

std::vector<DeliveryResult> RoutingDelivery::deliver(const QueuedMessage& message,
                                                     std::span<const std::string> recipients) {
  std::vector<DeliveryResult> results(recipients.size());
  std::vector<std::size_t> local;
  std::vector<std::size_t> remote;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (is_local(recipients[i])) {
      local.push_back(i);
    } else if (relay_ != nullptr) {
      remote.push_back(i);
    } else {
      results[i] = make_result(DeliveryStatus::permanent_failure,
                               "no route: not a local domain and no [smtp.relay]", "5.4.4");
    }
  }
  deliver_subset(local_, message, recipients, local, results);
  if (relay_ != nullptr) deliver_subset(*relay_, message, recipients, remote, results);
  return results;
}

void RoutingDelivery::idle() {
  local_.idle();
  if (relay_ != nullptr) relay_->idle();
}

}  // namespace postern::smtp::spool
