// Daemon startup helpers (see daemon_runtime.hpp).
#include "tools/postern/daemon_runtime.hpp"

#include "common/log.hpp"

#include <asio/signal_set.hpp>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

namespace postern::cli {

void drop_to_run_as_user(const config::DaemonConfig& daemon, std::vector<platform::Capability> keep,
                         std::vector<std::string> extra_groups) {
  if (daemon.user == "root" || daemon.user == "0") {
    log::warn("daemon", "", "running as root", {{"reason", "[daemon] user = \"root\""}});
    return;
  }
  if (geteuid() != 0) return;  // started unprivileged: nothing to drop
  platform::drop_privileges({daemon.user, daemon.group, keep, extra_groups});
  std::string kept;
  for (auto c : keep) kept += (kept.empty() ? "" : ",") + std::string(platform::to_string(c));
  log::info("daemon", "", "dropped privileges",
            {{"user", daemon.user}, {"group", daemon.group}, {"kept", kept.empty() ? "none" : kept},
             {"extra_groups", extra_groups.empty() ? "none" : extra_groups.front()}});
}

void prepare_writable_dir(const std::filesystem::path& dir, const config::DaemonConfig& daemon) {
  std::filesystem::create_directories(dir);
  if (geteuid() != 0 || daemon.user == "root") return;
  passwd* pw = getpwnam(daemon.user.c_str());
  if (!pw) throw std::runtime_error("[daemon] user " + daemon.user + ": no such user");
  gid_t gid = pw->pw_gid;
  if (!daemon.group.empty()) {
    if (group* gr = getgrnam(daemon.group.c_str())) gid = gr->gr_gid;
  }
  if (::chown(dir.c_str(), pw->pw_uid, gid) != 0) {
    throw std::runtime_error("cannot give " + dir.string() + " to " + daemon.user);
  }
}

void run_until_signalled(asio::io_context& io, std::function<void()> on_stop, std::function<void()> on_reload) {
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const asio::error_code&, int)> handler = [&](const asio::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      log::info("daemon", "", "SIGHUP: reloading");
      if (on_reload) on_reload();
      signals.async_wait(handler);
      return;
    }
    log::info("daemon", "", "stopping", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
    if (on_stop) on_stop();
    // Give closing connections a moment to flush, then stop regardless.
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(300));
    timer->async_wait([&io, timer](const asio::error_code&) { io.stop(); });
  };
  signals.async_wait(handler);
  io.run();
}

}  // namespace postern::cli
