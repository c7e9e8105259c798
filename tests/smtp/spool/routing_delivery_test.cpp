// Tests for RoutingDelivery: the split by domain (case-insensitive, last '@'), one call per
// destination with its subset, results merged back in order, no relay -> permanent 5.4.4,
// idle() forwarded.
#include "smtp/spool/routing_delivery.hpp"

#include <gtest/gtest.h>

namespace postern::smtp::spool {
namespace {

class Recorder : public Delivery {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  std::vector<std::vector<std::string>> calls;
  int idles = 0;
  std::vector<DeliveryResult> deliver(const QueuedMessage&,
                                      std::span<const std::string> rcpts) override {
    calls.emplace_back(rcpts.begin(), rcpts.end());
    std::vector<DeliveryResult> out;
    for (const auto& r : rcpts) out.push_back(make_result(DeliveryStatus::delivered, name_ + ":" + r));
    return out;
  }
  void idle() override { ++idles; }

 private:
  std::string name_;
};

TEST(RoutingDelivery, SplitsByDomainAndMergesInOrder) {
  Recorder local("local");
  Recorder relay("relay");
  RoutingDelivery routing({"site.example", "other.example"}, local, &relay);
  QueuedMessage m;
  const std::vector<std::string> rcpts = {"a@Site.Example", "b@partner.example",
                                          "\"x@site.example\"@partner.example", "c@other.example",
                                          "nodomain"};
  auto results = routing.deliver(m, rcpts);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(local.calls, (std::vector<std::vector<std::string>>{{"a@Site.Example", "c@other.example"}}));
  EXPECT_EQ(relay.calls.size(), 1u);
  EXPECT_EQ(relay.calls[0].size(), 3u);
  EXPECT_EQ(results[0].detail, "local:a@Site.Example");
  EXPECT_EQ(results[1].detail, "relay:b@partner.example");
  EXPECT_EQ(results[2].detail, "relay:\"x@site.example\"@partner.example");
  EXPECT_EQ(results[3].detail, "local:c@other.example");
  EXPECT_EQ(results[4].detail, "relay:nodomain");
  routing.idle();
  EXPECT_EQ(local.idles, 1);
  EXPECT_EQ(relay.idles, 1);
}

TEST(RoutingDelivery, WithoutARelayNonLocalRecipientsFailPermanently) {
  Recorder local("local");
  RoutingDelivery routing({"site.example"}, local, nullptr);
  QueuedMessage m;
  const std::vector<std::string> rcpts = {"b@partner.example", "a@site.example"};
  auto results = routing.deliver(m, rcpts);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status, DeliveryStatus::permanent_failure);
  EXPECT_EQ(results[0].status_code, "5.4.4");
  EXPECT_EQ(results[0].detail, "no route: not a local domain and no [smtp.relay]");
  EXPECT_EQ(results[1].status, DeliveryStatus::delivered);
  EXPECT_EQ(local.calls.size(), 1u);
  routing.idle();
  EXPECT_EQ(local.idles, 1);
}

TEST(RoutingDelivery, NoCallForAnEmptySubset) {
  Recorder local("local");
  Recorder relay("relay");
  RoutingDelivery routing({"site.example"}, local, &relay);
  QueuedMessage m;
  const std::vector<std::string> rcpts = {"a@site.example"};
  routing.deliver(m, rcpts);
  EXPECT_TRUE(relay.calls.empty());
}

}  // namespace
}  // namespace postern::smtp::spool
