// What `postern server` and `postern client` share around their protocol objects: the order of
// startup (root-only setup, then the privilege drop, then threads), signal handling and the
// run-as user. The privilege drop is the one named place where root ends: everything that needs
// root (TUN, netlink, low ports, reading 0600 keys) happens before drop_to_run_as_user().
// Under systemd (Type=notify) run_until_signalled also speaks the notify protocol: readiness,
// STATUS= lines, the watchdog from the event loop, RELOADING/STOPPING (docs/operations.md).
#pragma once

#include "common/config.hpp"
#include "platform/privileges.hpp"
#include "tools/postern/status/status_collect.hpp"

#include <asio.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace postern::cli {

// Drops to [daemon] user/group keeping `keep`; a no-op with a warning when the user is "root".
// Must run before any thread starts.
// `extra_groups`: supplementary groups kept beside [daemon] group (e.g. [smtp] maildir_group).
// Raises the soft RLIMIT_NOFILE to the hard limit (logged; a failure is a warning).
void raise_descriptor_limit();

void drop_to_run_as_user(const config::DaemonConfig& daemon, std::vector<platform::Capability> keep,
                         std::vector<std::string> extra_groups = {});

// Creates `dir` (and parents) if missing and gives it to the run-as user, so the daemon can
// still write there after the drop (spool, Maildir).
void prepare_writable_dir(const std::filesystem::path& dir, const config::DaemonConfig& daemon);

// What the service manager is told while run_until_signalled runs (sd_notify; every message is
// a no-op without NOTIFY_SOCKET, and then no timer is armed either):
//   READY=1      from inside the loop, once it runs: the caller bound every listener and started
//                its accept loop before calling, so connections are accepted from then on. With
//                `ready`, instead at the first poll (every 200 ms) where it returns true (the
//                client: its first established session). Sent once.
//   STATUS=...   status_line() with READY, after a reload and every 10 s.
//   WATCHDOG=1   every WATCHDOG_USEC / 2 from a timer on `io`, so a stalled loop (stopped
//                process, deadlock, a handler that never returns) stops sending it.
//   RELOADING=1 + MONOTONIC_USEC before on_reload, READY=1 after it (SIGHUP; only when there is
//                an on_reload and READY was already sent).
//   STOPPING=1   at SIGINT/SIGTERM, before on_stop.
struct ServiceNotify {
  std::function<std::string()> status_line;  // nullptr: no STATUS= lines
  std::function<bool()> ready;               // nullptr: ready as soon as the loop runs
};

// Runs io until SIGINT/SIGTERM (then calls on_stop and lets io drain); SIGHUP calls on_reload.
void run_until_signalled(asio::io_context& io, std::function<void()> on_stop, std::function<void()> on_reload,
                         ServiceNotify notify = {});

// A status_line for ServiceNotify: one line summarising collect_status(sources) ("3 sessions;
// smtp 2 queued, 17 accepted, 15 delivered" on the server; "tunnel up 10.77.0.2 via udp" or
// "connecting to the server" on the client). `sources` must outlive the function.
std::function<std::string()> status_line_of(status::StatusSources sources);
// The text itself, from a report (pure; tested).
std::string summarize_status(const status::StatusReport& report);

}  // namespace postern::cli
