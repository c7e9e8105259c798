// The metrics endpoint's families (tools/postern/metrics/metric_families.*): built from a status
// report whose counter lists come from status_collect's own builders, so a renamed status
// counter fails here; rendered with prometheus-cpp's text serializer and checked line by line.
#include "tools/postern/metrics/metric_families.hpp"
#include "tools/postern/status/status_collect.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace postern::cli::metrics {
namespace {

std::string render(const MetricsSnapshot& snapshot) {
  return prometheus::TextSerializer().Serialize(to_metric_families(snapshot));
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

MetricsSnapshot server_snapshot() {
  MetricsSnapshot s;
  s.status.role = "server";
  s.status.uptime_seconds = 12.5;
  status::SessionStatus udp, tls;
  udp.transport = "udp";
  tls.transport = "tls";
  s.status.sessions = {udp, udp, tls};
  tunnel::daemon::TrafficTotals totals;
  totals.rx_packets = 10;
  totals.rx_bytes = 1000;
  totals.tx_packets = 20;
  totals.tx_bytes = 2000;
  totals.rekeys = 3;
  tunnel::daemon::DataPlaneStats stats;
  stats.drops[static_cast<std::size_t>(tunnel::forward::Drop::rx_bad_header)] = 4;
  stats.drops[static_cast<std::size_t>(tunnel::forward::Drop::tx_tls_queue_full)] = 5;
  stats.drops[static_cast<std::size_t>(tunnel::forward::Drop::rx_replayed)] = 6;
  s.status.data_plane = status::data_plane_counters(totals, stats);
  tunnel::daemon::TunnelServer::Counters control;
  control.handshake_certificate = 2;
  control.auth_bad_password = 6;
  control.auth_throttled = 1;
  control.throttled_sources = 7;
  s.status.control = status::control_counters(control);
  smtp::server::SmtpService::Counters smtp;
  smtp.connections = 8;
  smtp.replies_2xx = 30;
  smtp.replies_5xx = 2;
  smtp.relayed = 9;
  smtp.queued = 1;
  smtp.oldest_queued_seconds = 42;
  s.status.smtp = status::smtp_counters(smtp);
  smtp::spool::SyncLatency latency;
  latency.observe(std::chrono::microseconds(50));    // first bucket (<= 0.1 ms)
  latency.observe(std::chrono::milliseconds(3));     // <= 5 ms
  latency.observe(std::chrono::seconds(10));         // +Inf only
  s.spool_sync = latency.snapshot();
  return s;
}

TEST(MetricFamilies, TunnelFamiliesCarryLabelsAndTotals) {
  const std::string text = render(server_snapshot());
  EXPECT_TRUE(has_line(text, "postern_tunnel_sessions{transport=\"udp\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_sessions{transport=\"tls\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_packets_total{direction=\"rx\"} 10")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_bytes_total{direction=\"tx\"} 2000")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_rekeys_total 3")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_dropped_packets_total{reason=\"rx_bad_header\"} 4")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_dropped_packets_total{reason=\"tx_tls_queue_full\"} 5")) << text;
  // The receiver's reasons are their own series, not one folded number.
  EXPECT_TRUE(has_line(text, "postern_tunnel_dropped_packets_total{reason=\"rx_replayed\"} 6")) << text;
  // Reasons that never happened are present as 0, so rate() has a series from the start.
  EXPECT_TRUE(has_line(text, "postern_tunnel_dropped_packets_total{reason=\"tx_no_route\"} 0")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_handshake_failures_total{reason=\"certificate\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "postern_auth_total{result=\"bad_password\"} 6")) << text;
  EXPECT_TRUE(has_line(text, "postern_auth_total{result=\"throttled\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "postern_tunnel_throttled_sources 7")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE postern_tunnel_packets_total counter")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE postern_tunnel_sessions gauge")) << text;
  EXPECT_TRUE(has_line(text, "postern_uptime_seconds 12.5")) << text;
}

TEST(MetricFamilies, SmtpFamiliesAndFsyncHistogram) {
  const std::string text = render(server_snapshot());
  EXPECT_TRUE(has_line(text, "postern_smtp_connections_total 8")) << text;
  EXPECT_TRUE(has_line(text, "postern_smtp_replies_total{class=\"2xx\"} 30")) << text;
  EXPECT_TRUE(has_line(text, "postern_smtp_replies_total{class=\"5xx\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "postern_smtp_delivery_outcomes_total{outcome=\"relayed\"} 9")) << text;
  EXPECT_TRUE(has_line(text, "postern_smtp_queue_messages 1")) << text;
  EXPECT_TRUE(has_line(text, "postern_smtp_queue_oldest_age_seconds 42")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE postern_spool_fsync_seconds histogram")) << text;
  EXPECT_TRUE(has_line(text, "postern_spool_fsync_seconds_bucket{le=\"0.0001\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "postern_spool_fsync_seconds_bucket{le=\"0.005\"} 2")) << text;  // cumulative
  EXPECT_TRUE(has_line(text, "postern_spool_fsync_seconds_bucket{le=\"2.5\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "postern_spool_fsync_seconds_bucket{le=\"+Inf\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "postern_spool_fsync_seconds_count 3")) << text;
}

TEST(MetricFamilies, EveryFamilyHasHelpAndPrefix) {
  for (const auto& f : to_metric_families(server_snapshot())) {
    EXPECT_EQ(f.name.rfind("postern_", 0), 0u) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    const bool total = f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total";
    EXPECT_EQ(total, f.type == prometheus::MetricType::Counter) << f.name;
    EXPECT_FALSE(f.metric.empty()) << f.name;
  }
}

TEST(MetricFamilies, PartsTheDaemonDoesNotRunAreLeftOut) {
  MetricsSnapshot client;
  client.status.role = "client";
  client.status.data_plane = status::data_plane_counters({}, {});
  const std::string text = render(client);
  EXPECT_NE(text.find("postern_tunnel_packets_total"), std::string::npos);
  EXPECT_TRUE(has_line(text, "postern_tunnel_sessions{transport=\"udp\"} 0")) << text;
  EXPECT_EQ(text.find("postern_auth_total"), std::string::npos);
  EXPECT_EQ(text.find("postern_smtp_"), std::string::npos);
  EXPECT_EQ(text.find("postern_spool_"), std::string::npos);
}

TEST(MetricFamilies, AMissingStatusCounterIsABugNotAZero) {
  MetricsSnapshot s;
  s.status.smtp = status::Counters{{"connections", 1}};
  EXPECT_THROW(to_metric_families(s), std::logic_error);
}

// contrib/grafana/postern-dashboard.json may only query metrics a server serves (histogram
// series by their family name).
TEST(MetricFamilies, DashboardNamesOnlyServedMetrics) {
  std::ifstream in(std::string(POSTERN_SOURCE_DIR) + "/contrib/grafana/postern-dashboard.json");
  ASSERT_TRUE(in) << "dashboard not found";
  std::stringstream text;
  text << in.rdbuf();
  const std::string json = text.str();
  std::set<std::string> served;
  for (const auto& f : to_metric_families(server_snapshot())) served.insert(f.name);
  const std::regex name("postern_[a-z_]+");
  std::set<std::string> used;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), name); it != std::sregex_iterator(); ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      const std::string s = suffix;
      if (!served.contains(n) && n.size() > s.size() && n.ends_with(s)) n.resize(n.size() - s.size());
    }
    used.insert(n);
    EXPECT_TRUE(served.contains(n)) << "the dashboard queries " << it->str() << ", which is not served";
  }
  EXPECT_GE(used.size(), 25u);
}

}  // namespace
}  // namespace postern::cli::metrics
