// Status snapshot -> Prometheus metric families (see metric_families.hpp). Each family is a row
// of a table naming the status counters it reads, so a counter renamed in status_collect.cpp
// fails the unit test (a missing name throws) instead of silently reading 0.
#include "tools/postern/metrics/metric_families.hpp"

#include "tunnel/forward/drop.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace postern::cli::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using status::Counters;

// A label value and the status counter that holds its number.
struct Sample {
  const char* label_value;
  const char* counter;
};

struct FamilySpec {
  const char* name;
  const char* help;
  MetricType type;
  const char* label;  // nullptr: one unlabelled sample
  std::vector<Sample> samples;
};

std::uint64_t value_of(const Counters& counters, std::string_view name) {
  auto it = std::find_if(counters.begin(), counters.end(), [&](const auto& c) { return c.first == name; });
  if (it == counters.end()) throw std::logic_error("metrics: no status counter named " + std::string(name));
  return it->second;
}

ClientMetric sample(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  return m;
}

void add_families(std::vector<MetricFamily>& out, const Counters& counters, const std::vector<FamilySpec>& specs) {
  for (const auto& spec : specs) {
    MetricFamily f{spec.name, spec.help, spec.type, {}};
    for (const auto& s : spec.samples) {
      std::vector<ClientMetric::Label> labels;
      if (spec.label) labels.push_back({spec.label, s.label_value});
      f.metric.push_back(sample(spec.type, static_cast<double>(value_of(counters, s.counter)), std::move(labels)));
    }
    out.push_back(std::move(f));
  }
}

// One sample per forwarding-core drop reason, labelled and named by its to_string() (a literal).
std::vector<Sample> drop_samples() {
  std::vector<Sample> out;
  for (std::size_t i = 0; i < tunnel::forward::kDropCount; ++i) {
    const char* name = tunnel::forward::to_string(static_cast<tunnel::forward::Drop>(i)).data();
    out.push_back({name, name});
  }
  return out;
}

const std::vector<FamilySpec>& data_plane_specs() {
  static const std::vector<FamilySpec> specs = {
      {"postern_tunnel_packets_total", "Inner packets through the tunnel since start (rx: from peers, tx: to peers).",
       MetricType::Counter, "direction", {{"rx", "rx_packets"}, {"tx", "tx_packets"}}},
      {"postern_tunnel_bytes_total", "Inner packet bytes through the tunnel since start (rx: from peers, tx: to peers).",
       MetricType::Counter, "direction", {{"rx", "rx_bytes"}, {"tx", "tx_bytes"}}},
      {"postern_tunnel_rekeys_total", "Data-channel send-key changes since start, all sessions.", MetricType::Counter,
       nullptr, {{"", "rekeys"}}},
      {"postern_tunnel_received_datagrams_total", "UDP datagrams read by the data plane.", MetricType::Counter,
       nullptr, {{"", "rx_datagrams"}}},
      {"postern_tunnel_dropped_packets_total", "Packets the data plane dropped, by reason.", MetricType::Counter,
       "reason", drop_samples()},
  };
  return specs;
}

const std::vector<FamilySpec>& control_specs() {
  static const std::vector<FamilySpec> specs = {
      {"postern_tunnel_sessions_established_total", "Tunnel sessions set up (data channel keyed) since start.",
       MetricType::Counter, nullptr, {{"", "sessions_established"}}},
      {"postern_tunnel_handshake_failures_total", "Control connections refused before negotiation, by reason.",
       MetricType::Counter, "reason",
       {{"timeout", "handshake_timeout"},
        {"certificate", "handshake_certificate"},
        {"denied", "handshake_denied"},
        {"tls", "handshake_tls"},
        {"pending_limit", "handshake_limit"},
        {"evicted", "handshake_evicted"}}},
      {"postern_auth_total", "Tunnel password checks, by result.", MetricType::Counter, "result",
       {{"ok", "auth_ok"}, {"bad_password", "auth_bad_password"}, {"throttled", "auth_throttled"},
        {"no_users", "auth_no_users"}, {"unavailable", "auth_unavailable"}}},
      {"postern_tunnel_throttled_sources", "Source addresses the tunnel password throttle tracks now.",
       MetricType::Gauge, nullptr, {{"", "throttled_sources"}}},
  };
  return specs;
}

const std::vector<FamilySpec>& smtp_specs() {
  static const std::vector<FamilySpec> specs = {
      {"postern_smtp_connections_total", "SMTP connections accepted since start.", MetricType::Counter, nullptr,
       {{"", "connections"}}},
      {"postern_smtp_active_connections", "SMTP connections open now.", MetricType::Gauge, nullptr,
       {{"", "active_connections"}}},
      {"postern_smtp_refused_connections_total", "SMTP connections refused by the connection itself, by reason.",
       MetricType::Counter, "reason",
       {{"limit", "rejected_connections"}, {"shed", "shed_connections"}, {"early_talker", "early_talkers"},
        {"wrong_mode", "wrong_mode"}}},
      {"postern_smtp_tls_handshakes_total", "SMTP TLS handshakes (implicit or STARTTLS), by result.",
       MetricType::Counter, "result", {{"ok", "tls_handshakes"}, {"failed", "tls_failures"}}},
      {"postern_smtp_auth_total", "SMTP AUTH attempts, by result.", MetricType::Counter, "result",
       {{"ok", "auth_ok"}, {"failed", "auth_failed"}}},
      {"postern_smtp_replies_total", "Replies the SMTP sessions sent, by class.", MetricType::Counter, "class",
       {{"2xx", "replies_2xx"}, {"3xx", "replies_3xx"}, {"4xx", "replies_4xx"}, {"5xx", "replies_5xx"}}},
      {"postern_smtp_messages_accepted_total", "Messages accepted (250 after DATA or BDAT LAST).",
       MetricType::Counter, nullptr, {{"", "messages_accepted"}}},
      {"postern_smtp_message_bytes_total", "Bytes of accepted messages.", MetricType::Counter, nullptr,
       {{"", "message_bytes"}}},
      {"postern_smtp_store_failures_total", "Messages the spool failed to store (the client got a 4xx).",
       MetricType::Counter, nullptr, {{"", "store_failures"}}},
      {"postern_smtp_rate_limited_total", "Refusals by the per-identity hourly limits, by limit.",
       MetricType::Counter, "limit",
       {{"messages_per_hour", "rate_limited_messages"}, {"recipients_per_hour", "rate_limited_recipients"}}},
      {"postern_smtp_delivery_outcomes_total", "Queue delivery outcomes per recipient, by outcome.",
       MetricType::Counter, "outcome",
       {{"delivered", "delivered"}, {"relayed", "relayed"}, {"deferred", "deferred"}, {"failed", "delivery_failed"}}},
      {"postern_smtp_bounces_total", "Delivery status notifications (bounces) created.", MetricType::Counter,
       nullptr, {{"", "bounced"}}},
      {"postern_smtp_queue_messages", "Messages waiting in the queue.", MetricType::Gauge, nullptr,
       {{"", "queued"}}},
      {"postern_smtp_queue_oldest_age_seconds", "Age of the oldest queued message (0 when the queue is empty).",
       MetricType::Gauge, nullptr, {{"", "oldest_queued_seconds"}}},
  };
  return specs;
}

MetricFamily sessions_by_transport(const std::vector<status::SessionStatus>& sessions) {
  MetricFamily f{"postern_tunnel_sessions", "Tunnel sessions up now, by data transport.", MetricType::Gauge, {}};
  for (const char* transport : {"udp", "tls"}) {
    auto n = std::count_if(sessions.begin(), sessions.end(), [&](const auto& s) { return s.transport == transport; });
    f.metric.push_back(sample(MetricType::Gauge, static_cast<double>(n), {{"transport", transport}}));
  }
  return f;
}

MetricFamily sync_histogram(const smtp::spool::SyncLatency::Snapshot& s) {
  using smtp::spool::SyncLatency;
  MetricFamily f{"postern_spool_fsync_seconds",
                 "Time the spool waited for each fsync/fdatasync (message file, queue directory, record file).",
                 MetricType::Histogram, {}};
  ClientMetric m;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < SyncLatency::kBounds.size(); ++i) {
    cumulative += s.buckets[i];
    m.histogram.bucket.push_back({cumulative, SyncLatency::kBounds[i]});
  }
  m.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = s.count;
  m.histogram.sample_sum = s.sum_seconds;
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::vector<MetricFamily> to_metric_families(const MetricsSnapshot& snapshot) {
  const status::StatusReport& r = snapshot.status;
  std::vector<MetricFamily> out;
  out.push_back({"postern_uptime_seconds", "Seconds since the daemon started (set up its status socket).", MetricType::Gauge,
                 {sample(MetricType::Gauge, r.uptime_seconds)}});
  if (r.data_plane) {
    out.push_back(sessions_by_transport(r.sessions));
    add_families(out, *r.data_plane, data_plane_specs());
  }
  if (r.control) add_families(out, *r.control, control_specs());
  if (r.smtp) add_families(out, *r.smtp, smtp_specs());
  if (snapshot.spool_sync) out.push_back(sync_histogram(*snapshot.spool_sync));
  return out;
}

}  // namespace postern::cli::metrics
