// Status socket and inner capture setup for the daemons (see daemon_status.hpp).
#include "tools/postern/status/daemon_status.hpp"

#include "common/log.hpp"
#include "platform/pcap_writer.hpp"
#include "tools/postern/daemon_runtime.hpp"
#include "tunnel/daemon/data_plane.hpp"

#include <cstdlib>

namespace postern::cli::status {

std::unique_ptr<StatusServer> open_status_server(asio::io_context& io, const config::DaemonConfig& daemon,
                                                 StatusSources sources) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(sources.config, ec);
  if (!ec) sources.config = absolute.string();  // the daemon never chdirs, so resolve it now
  auto server = std::make_unique<StatusServer>(io, daemon.status_socket, [sources = std::move(sources)] {
    return collect_status(sources, std::chrono::steady_clock::now());
  });
  // The socket's directory, when it is postern's own (the default /run/postern, or the unit's
  // RuntimeDirectory), goes to the run-as user, so that the daemon can still remove its socket
  // at exit after the privilege drop. Elsewhere the operator's directory is left as it is.
  const std::filesystem::path dir = daemon.status_socket.parent_path();
  const char* runtime_directory = std::getenv("RUNTIME_DIRECTORY");
  if (dir == "/run/postern" || (runtime_directory != nullptr && dir == runtime_directory)) {
    try {
      prepare_writable_dir(dir, daemon);
    } catch (const std::exception& e) {
      log::info("status", "", "socket_dir_kept",
                {{"path", dir.string()}, {"error", e.what()}, {"effect", "the socket is left at exit"}});
    }
  }
  return server;
}

void enable_inner_capture(const config::DaemonConfig& daemon, tunnel::daemon::DataPlane& data_plane) {
  if (!daemon.capture_inner) return;
  const std::string path = daemon.capture_inner->string();
  data_plane.capture_inner(platform::PcapWriter::create(*daemon.capture_inner, platform::PcapCreateMode::truncate));
  // Loud on purpose: this file holds users' traffic in clear text.
  log::warn("daemon", "", "capture_inner_on",
            {{"path", path}, {"mode", "0600"}, {"effect", "decrypted tunnel traffic is written to the path"}});
}

}  // namespace postern::cli::status
