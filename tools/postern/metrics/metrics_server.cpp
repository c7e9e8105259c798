// Metrics endpoint: Exposer + a Collectable that snapshots on the io thread (see metrics_server.hpp).
#include "tools/postern/metrics/metrics_server.hpp"

#include "common/log.hpp"
#include "smtp/server/smtp_service.hpp"
#include "tools/postern/metrics/metric_families.hpp"

#include <asio/post.hpp>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include <chrono>
#include <exception>
#include <future>
#include <stdexcept>

namespace postern::cli::metrics {

namespace {
constexpr auto kSnapshotTimeout = std::chrono::seconds(2);
}

class MetricsCollectable : public prometheus::Collectable {
 public:
  MetricsCollectable(asio::io_context& io, status::StatusSources sources) : io_(io), sources_(std::move(sources)) {}

  // Runs on a civetweb thread.
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto promise = std::make_shared<std::promise<MetricsSnapshot>>();
    auto future = promise->get_future();
    // The handler only runs while io runs, i.e. while every source (and this) is alive: the
    // daemons never run io again after they start destroying them.
    asio::post(io_, [this, promise] {
      MetricsSnapshot snapshot;
      snapshot.status = status::collect_status(sources_, std::chrono::steady_clock::now());
      if (sources_.smtp) snapshot.spool_sync = sources_.smtp->spool_sync_latency();
      promise->set_value(std::move(snapshot));
    });
    if (future.wait_for(kSnapshotTimeout) != std::future_status::ready) {
      log::warn("daemon", "", "metrics_snapshot_timeout", {{"timeout_s", 2}});
      return {};
    }
    try {
      return to_metric_families(future.get());
    } catch (const std::future_error&) {
      return {};  // the loop is shutting down: the handler was dropped unrun
    }
  }

 private:
  asio::io_context& io_;
  status::StatusSources sources_;
};

MetricsServer::MetricsServer(asio::io_context& io, const IpEndpoint& listen, status::StatusSources sources)
    : collectable_(std::make_shared<MetricsCollectable>(io, std::move(sources))) {
  const std::string address = listen.to_string();
  try {
    // One worker thread: scrapes are rare and each one waits on the io thread anyway.
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    throw std::runtime_error("[daemon] metrics: cannot listen on " + address + ": " + e.what());
  }
  exposer_->RegisterCollectable(collectable_);
  log::info("daemon", "", "metrics_listening", {{"metrics", address}, {"path", "/metrics"}});
}

// The exposer (and its threads) goes first: no scrape can reach the collectable afterwards.
MetricsServer::~MetricsServer() { exposer_.reset(); }

std::unique_ptr<MetricsServer> open_metrics_server(asio::io_context& io, const config::DaemonConfig& daemon,
                                                   status::StatusSources sources) {
  if (!daemon.metrics) return nullptr;
  if (daemon.metrics_public) {
    log::warn("daemon", "", "metrics_public",
              {{"metrics", daemon.metrics->to_string()}, {"effect", "served on a non-loopback address"}});
  }
  return std::make_unique<MetricsServer>(io, *daemon.metrics, std::move(sources));
}

}  // namespace postern::cli::metrics
