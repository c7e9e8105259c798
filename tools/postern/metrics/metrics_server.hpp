// The optional metrics endpoint ([daemon] metrics = "HOST:PORT"): Prometheus text exposition at
// GET /metrics, served by prometheus-cpp's Exposer (civetweb, its own two threads).
// A scrape asks the daemon's io_context thread for the snapshot, the same collect_status() the
// status socket uses there, and waits for it (at most 2 s; a stalled loop answers an empty
// page rather than piling up scrapes), so no daemon object is read from a civetweb thread.
// Contract: open_metrics_server() starts threads, so call it after drop_to_run_as_user() (the
// port is bound as the run-as user: use one >= 1024); it throws std::runtime_error naming the
// key when the address cannot be bound. Destroy the server before the objects in `sources`.
#pragma once

#include "common/config.hpp"
#include "tools/postern/status/status_collect.hpp"

#include <asio/io_context.hpp>

#include <memory>

namespace prometheus {
class Exposer;
}

namespace postern::cli::metrics {

class MetricsCollectable;

class MetricsServer {
 public:
  MetricsServer(asio::io_context& io, const IpEndpoint& listen, status::StatusSources sources);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  std::shared_ptr<MetricsCollectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// nullptr when [daemon] metrics is not set.
std::unique_ptr<MetricsServer> open_metrics_server(asio::io_context& io, const config::DaemonConfig& daemon,
                                                   status::StatusSources sources);

}  // namespace postern::cli::metrics
