// What `postern server` and `postern client` expose to their operator besides logs: the status
// socket ([daemon] status_socket) and, for debugging, the decrypted inner traffic as a pcap
// file ([daemon] capture_inner). Both are root-only setup steps: call them before
// drop_to_run_as_user() (the socket and the file are created by root, 0600).
#pragma once

#include "common/config.hpp"
#include "tools/postern/status/status_collect.hpp"
#include "tools/postern/status/status_server.hpp"

#include <asio.hpp>

#include <memory>

namespace postern::tunnel::daemon {
class DataPlane;
}

namespace postern::cli::status {

// Binds the status socket and returns the server (call start() after the drop). `sources` is
// captured by value; its pointers must outlive the returned server.
std::unique_ptr<StatusServer> open_status_server(asio::io_context& io, const config::DaemonConfig& daemon,
                                                 StatusSources sources);

// When [daemon] capture_inner is set: creates the pcap file (mode 0600, truncating an old
// capture, never following a symlink), hands it to the data plane and logs a warning saying
// that decrypted traffic is being written. No-op otherwise. Throws naming the path.
void enable_inner_capture(const config::DaemonConfig& daemon, tunnel::daemon::DataPlane& data_plane);

}  // namespace postern::cli::status
