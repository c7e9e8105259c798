// What the metrics endpoint ([daemon] metrics) serves, as Prometheus metric families: a pure
// translation of the `postern status` snapshot (the same counters, one source of truth) plus
// the spool's fsync histogram. No I/O, no clock, no threads: the HTTP side is metrics_server.*.
// Names follow the Prometheus conventions: `postern_` prefix, base units (bytes, seconds),
// `_total` on counters, the reason or class in a label. Families for a part the daemon does not
// run (no tunnel, no [smtp]) are left out; every family present lists all its label values, so a
// reason that never happened shows 0 rather than being absent. docs/operations.md lists them.
#pragma once

#include "smtp/spool/sync_latency.hpp"
#include "tools/postern/status/status_report.hpp"

#include <prometheus/metric_family.h>

#include <optional>
#include <vector>

namespace postern::cli::metrics {

struct MetricsSnapshot {
  status::StatusReport status;
  std::optional<smtp::spool::SyncLatency::Snapshot> spool_sync;  // nullopt: [smtp] off
};

std::vector<prometheus::MetricFamily> to_metric_families(const MetricsSnapshot& snapshot);

}  // namespace postern::cli::metrics
