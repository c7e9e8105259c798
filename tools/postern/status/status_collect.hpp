// Builds a StatusReport from the live daemon objects: the data plane's sessions and counters
// and the SMTP service's counters. Runs on the daemon's io_context thread when a status client
// asks; it only reads (atomics, the session table and each session endpoint under their own
// short locks, and the tunnel server's io-thread counters, hence the thread).
#pragma once

#include "smtp/server/smtp_service.hpp"
#include "tools/postern/status/status_report.hpp"
#include "auth/cert_expiry.hpp"
#include "tunnel/daemon/data_plane.hpp"
#include "tunnel/daemon/tunnel_client.hpp"
#include "tunnel/daemon/tunnel_server.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace postern::cli::status {

struct StatusSources {
  std::string role;    // "server" or "client"
  std::string config;  // config file path, shown in the header
  std::chrono::steady_clock::time_point started;
  const tunnel::daemon::DataPlane* data_plane = nullptr;  // nullptr: no tunnel in this daemon
  const smtp::server::SmtpService* smtp = nullptr;        // nullptr: [smtp] off
  const tunnel::daemon::TunnelServer* tunnel_server = nullptr;  // nullptr: not a tunnel server
  // The daemon's certificates and CRL against a wall-clock time (CertWatch::expiries); empty: none.
  std::function<std::vector<auth::Expiry>(std::int64_t unix_now)> certificates;
  const tunnel::daemon::TunnelClient* tunnel_client = nullptr;  // nullptr: not a tunnel client
};

// A client's site servers as `postern status` shows them (pure but for the client's getters).
std::vector<ServerStatus> server_statuses(const config::TunnelClientConfig& config,
                                          const tunnel::daemon::TunnelClient& client,
                                          std::chrono::steady_clock::time_point now);

// The named counter lists of the report, from plain values (public so the metrics test can
// check that every counter the metrics read exists under that name).
Counters data_plane_counters(const tunnel::daemon::TrafficTotals& totals, const tunnel::daemon::DataPlaneStats& stats);
Counters control_counters(const tunnel::daemon::TunnelServer::Counters& counters);
Counters smtp_counters(const smtp::server::SmtpService::Counters& counters);

// `now` is the same clock the data plane stamps last_rx_ns / last_rekey_ns with; `unix_now`
// (seconds) is the wall clock certificates expire by.
StatusReport collect_status(const StatusSources& sources, std::chrono::steady_clock::time_point now,
                            std::int64_t unix_now);
// The same with the system clock as unix_now.
StatusReport collect_status(const StatusSources& sources, std::chrono::steady_clock::time_point now);

// The status form of an Expiry (pure).
CertificateStatus certificate_status(const auth::Expiry& expiry);

}  // namespace postern::cli::status
