// Builds a StatusReport from the live daemon objects: the data plane's sessions and counters
// and the SMTP service's counters. Runs on the daemon's io_context thread when a status client
// asks; it only reads (atomics, and the session endpoint under its own short lock).
#pragma once

#include "tools/postern/status/status_report.hpp"
#include "tunnel/auth/cert_expiry.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace postern::tunnel::daemon {
class DataPlane;
}
namespace postern::smtp::server {
class SmtpService;
}

namespace postern::cli::status {

struct StatusSources {
  std::string role;    // "server" or "client"
  std::string config;  // config file path, shown in the header
  std::chrono::steady_clock::time_point started;
  const tunnel::daemon::DataPlane* data_plane = nullptr;  // nullptr: no tunnel in this daemon
  const smtp::server::SmtpService* smtp = nullptr;        // nullptr: [smtp] off
  // The daemon's certificates and CRL against a wall-clock time (CertWatch::expiries); empty: none.
  std::function<std::vector<tunnel::auth::Expiry>(std::int64_t unix_now)> certificates;
};

// `now` is the same clock the data plane stamps last_rx_ns / last_rekey_ns with; `unix_now`
// (seconds) is the wall clock certificates expire by.
StatusReport collect_status(const StatusSources& sources, std::chrono::steady_clock::time_point now,
                            std::int64_t unix_now);
// The same with the system clock as unix_now.
StatusReport collect_status(const StatusSources& sources, std::chrono::steady_clock::time_point now);

// The status form of an Expiry (pure).
CertificateStatus certificate_status(const tunnel::auth::Expiry& expiry);

}  // namespace postern::cli::status
