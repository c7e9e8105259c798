// Status socket and inner capture setup for the daemons (see daemon_status.hpp).
#include "tools/postern/status/daemon_status.hpp"

#include "common/log.hpp"
#include "platform/pcap_writer.hpp"
#include "tunnel/daemon/data_plane.hpp"

namespace postern::cli::status {

std::unique_ptr<StatusServer> open_status_server(asio::io_context& io, const config::DaemonConfig& daemon,
                                                 StatusSources sources) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(sources.config, ec);
  if (!ec) sources.config = absolute.string();  // the daemon never chdirs, so resolve it now
  return std::make_unique<StatusServer>(io, daemon.status_socket, [sources = std::move(sources)] {
    return collect_status(sources, std::chrono::steady_clock::now());
  });
}

void enable_inner_capture(const config::DaemonConfig& daemon, tunnel::daemon::DataPlane& data_plane) {
  if (!daemon.capture_inner) return;
  const std::string path = daemon.capture_inner->string();
  data_plane.capture_inner(platform::PcapWriter::create(*daemon.capture_inner, platform::PcapCreateMode::truncate));
  // Loud on purpose: this file holds users' traffic in clear text.
  log::warn("daemon", "", "capture_inner is on: decrypted tunnel traffic is written to " + path,
            {{"path", path}, {"mode", "0600"}});
}

}  // namespace postern::cli::status
