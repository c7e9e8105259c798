// Builds a StatusReport from the live daemon objects: the data plane's sessions and counters
// and the SMTP service's counters. Runs on the daemon's io_context thread when a status client
// asks; it only reads (atomics, and the session endpoint under its own short lock).
#pragma once

#include "tools/postern/status/status_report.hpp"

#include <chrono>
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
};

// `now` is the same clock the data plane stamps last_rx_ns / last_rekey_ns with.
StatusReport collect_status(const StatusSources& sources, std::chrono::steady_clock::time_point now);

}  // namespace postern::cli::status
