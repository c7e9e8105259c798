// What `postern server` and `postern client` share around their protocol objects: the order of
// startup (root-only setup, then the privilege drop, then threads), signal handling and the
// run-as user. The privilege drop is the one named place where root ends: everything that needs
// root (TUN, netlink, low ports, reading 0600 keys) happens before drop_to_run_as_user().
#pragma once

#include "common/config.hpp"
#include "platform/privileges.hpp"

#include <asio.hpp>

#include <filesystem>
#include <functional>
#include <vector>

namespace postern::cli {

// Drops to [daemon] user/group keeping `keep`; a no-op with a warning when the user is "root".
// Must run before any thread starts.
// `extra_groups`: supplementary groups kept beside [daemon] group (e.g. [smtp] maildir_group).
void drop_to_run_as_user(const config::DaemonConfig& daemon, std::vector<platform::Capability> keep,
                         std::vector<std::string> extra_groups = {});

// Creates `dir` (and parents) if missing and gives it to the run-as user, so the daemon can
// still write there after the drop (spool, Maildir).
void prepare_writable_dir(const std::filesystem::path& dir, const config::DaemonConfig& daemon);

// Runs io until SIGINT/SIGTERM (then calls on_stop and lets io drain); SIGHUP calls on_reload.
void run_until_signalled(asio::io_context& io, std::function<void()> on_stop, std::function<void()> on_reload);

}  // namespace postern::cli
