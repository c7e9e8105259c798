// Snapshot of the live daemon objects for `postern status` (see status_collect.hpp).
#include "tools/postern/status/status_collect.hpp"

#include "common/config.hpp"
#include "common/ip_address.hpp"
#include "smtp/server/smtp_service.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/tunnel_server.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <mutex>

namespace postern::cli::status {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds between a steady_clock stamp stored as nanoseconds and now; nullopt for "never" (0).
std::optional<double> seconds_since(std::int64_t stamp_ns, Clock::time_point now) {
  if (stamp_ns == 0) return std::nullopt;
  auto then = Clock::time_point(Clock::duration(stamp_ns));
  return std::chrono::duration<double>(now - then).count();
}

SessionStatus session_status(tunnel::daemon::PeerSession& s, Clock::time_point now, std::int64_t unix_now) {
  SessionStatus out;
  out.identity = s.identity;
  out.inner_address = s.inner_address ? IpAddress::from_v4_uint(s.inner_address).to_string() : "";
  if (s.inner_address6) out.inner_address6 = s.inner_address6->to_address().to_string();
  {
    std::lock_guard lock(s.endpoint_mutex);
    if (auto endpoint = IpEndpoint::from_sockaddr(s.endpoint, s.endpoint_len)) {
      out.outer_address = endpoint->to_string();
    }
  }
  out.transport = std::string(tunnel::forward::to_string(s.transport.load(std::memory_order_relaxed)));
  out.transport_switches = s.transport_switches.load(std::memory_order_relaxed);
  out.session_id = fmt::format("0x{:08x}", s.local_session_id);
  out.rx_packets = s.rx_packets.load(std::memory_order_relaxed);
  out.rx_bytes = s.rx_bytes.load(std::memory_order_relaxed);
  out.tx_packets = s.tx_packets.load(std::memory_order_relaxed);
  out.tx_bytes = s.tx_bytes.load(std::memory_order_relaxed);
  out.rx_dropped = s.rx_dropped.load(std::memory_order_relaxed);
  out.tx_dropped = s.tx_dropped.load(std::memory_order_relaxed);
  out.rekeys = s.rekeys.load(std::memory_order_relaxed);
  out.last_rekey_seconds_ago = seconds_since(s.last_rekey_ns.load(std::memory_order_relaxed), now);
  out.last_packet_seconds_ago = seconds_since(s.last_rx_ns.load(std::memory_order_relaxed), now);
  if (s.certificate_not_after != 0) {
    namespace auth = postern::auth;
    out.certificate_not_after = auth::format_utc(s.certificate_not_after);
    out.certificate_days_left = auth::days_left(s.certificate_not_after, unix_now);
    out.certificate_state =
        std::string(auth::to_string(auth::expiry_level(s.certificate_not_before, s.certificate_not_after, unix_now)));
  }
  return out;
}

}  // namespace

// The totals first (every session since start, including ended ones), then drops by reason
// (every forward::Drop, in its order, named by to_string()).
Counters data_plane_counters(const tunnel::daemon::TrafficTotals& t, const tunnel::daemon::DataPlaneStats& st) {
  Counters out = {{"rx_packets", t.rx_packets}, {"rx_bytes", t.rx_bytes},       {"tx_packets", t.tx_packets},
                  {"tx_bytes", t.tx_bytes},     {"rekeys", t.rekeys},           {"rx_datagrams", st.rx_datagrams}};
  for (std::size_t i = 0; i < tunnel::forward::kDropCount; ++i) {
    out.emplace_back(std::string(tunnel::forward::to_string(static_cast<tunnel::forward::Drop>(i))), st.drops[i]);
  }
  return out;
}

Counters smtp_counters(const smtp::server::SmtpService::Counters& c) {
  return {{"connections", c.connections},
          {"active_connections", c.active_connections},
          {"rejected_connections", c.rejected_connections},
          {"shed_connections", c.shed_connections},
          {"early_talkers", c.early_talkers},
          {"wrong_mode", c.wrong_mode},
          {"tls_handshakes", c.tls_handshakes},
          {"tls_failures", c.tls_failures},
          {"auth_ok", c.auth_ok},
          {"auth_failed", c.auth_failed},
          {"messages_accepted", c.messages_accepted},
          {"message_bytes", c.message_bytes},
          {"store_failures", c.store_failures},
          {"delivered", c.delivered},
          {"relayed", c.relayed},
          {"bounced", c.bounced},
          {"deferred", c.deferred},
          {"delivery_failed", c.delivery_failed},
          {"queued", c.queued},
          {"oldest_queued_seconds", c.oldest_queued_seconds},
          {"rate_limited_messages", c.rate_limited_messages},
          {"rate_limited_recipients", c.rate_limited_recipients},
          {"replies_2xx", c.replies_2xx},
          {"replies_3xx", c.replies_3xx},
          {"replies_4xx", c.replies_4xx},
          {"replies_5xx", c.replies_5xx}};
}

Counters control_counters(const tunnel::daemon::TunnelServer::Counters& c) {
  return {{"sessions_established", c.sessions_established},
          {"handshake_timeout", c.handshake_timeout},
          {"handshake_certificate", c.handshake_certificate},
          {"handshake_denied", c.handshake_denied},
          {"handshake_tls", c.handshake_tls},
          {"handshake_limit", c.handshake_limit},
          {"handshake_evicted", c.handshake_evicted},
          {"auth_ok", c.auth_ok},
          {"auth_bad_password", c.auth_bad_password},
          {"auth_throttled", c.auth_throttled},
          {"auth_no_users", c.auth_no_users},
          {"auth_unavailable", c.auth_unavailable},
          {"throttled_sources", c.throttled_sources}};
}

CertificateStatus certificate_status(const auth::Expiry& e) {
  CertificateStatus out{e.what, e.path, "", std::nullopt, std::string(auth::to_string(e.level)), e.error};
  if (!e.error.empty()) {
    out.state = "error";
  } else if (e.end != 0) {
    out.not_after = auth::format_utc(e.end);
    out.days_left = e.days_left;
  }
  return out;
}

std::vector<ServerStatus> server_statuses(const config::TunnelClientConfig& config,
                                          const tunnel::daemon::TunnelClient& client, Clock::time_point now) {
  std::vector<ServerStatus> out;
  const auto& rotation = client.rotation();
  for (std::size_t i = 0; i < config.servers.size(); ++i) {
    const auto& e = rotation.entries().at(i);
    ServerStatus s;
    s.server = config.servers[i].to_string();
    s.address = client.last_address(i);
    s.state = std::string(tunnel::daemon::to_string(e.state));
    s.current = rotation.current() == i;
    s.failures = e.failures;
    s.last_error = e.last_error;
    if (e.since) s.state_seconds_ago = std::chrono::duration<double>(now - *e.since).count();
    out.push_back(std::move(s));
  }
  return out;
}

StatusReport collect_status(const StatusSources& sources, Clock::time_point now) {
  const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  return collect_status(sources, now, unix_now);
}

StatusReport collect_status(const StatusSources& sources, Clock::time_point now, std::int64_t unix_now) {
  StatusReport report;
  if (sources.certificates) {
    for (const auto& e : sources.certificates(unix_now)) report.certificates.push_back(certificate_status(e));
  }
  report.role = sources.role;
  report.pid = static_cast<long>(::getpid());
  report.config = sources.config;
  report.uptime_seconds = std::chrono::duration<double>(now - sources.started).count();
  if (sources.tunnel_client) {
    const auto& config = sources.tunnel_client->config();
    report.servers = server_statuses(config, *sources.tunnel_client, now);
    report.server_order = std::string(config::to_string(config.server_order));
  }
  if (sources.data_plane) {
    for (const auto& session : sources.data_plane->sessions()) {
      report.sessions.push_back(session_status(*session, now, unix_now));
    }
    std::sort(report.sessions.begin(), report.sessions.end(),
              [](const SessionStatus& a, const SessionStatus& b) { return a.session_id < b.session_id; });
    report.data_plane = data_plane_counters(sources.data_plane->traffic_totals(), sources.data_plane->stats());
  }
  if (sources.tunnel_server) report.control = control_counters(sources.tunnel_server->counters());
  if (sources.smtp) report.smtp = smtp_counters(sources.smtp->counters());
  return report;
}

}  // namespace postern::cli::status
