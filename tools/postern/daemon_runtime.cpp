// Daemon startup helpers (see daemon_runtime.hpp).
#include "tools/postern/daemon_runtime.hpp"

#include "common/log.hpp"
#include "platform/open_file_limit.hpp"
#include "platform/systemd_notify.hpp"

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

namespace postern::cli {
namespace {

namespace sd = platform::systemd;

// The notify side of run_until_signalled (see ServiceNotify in the header). Lives on the io
// thread; handlers touch `this` only when their timer was not cancelled, and the destructor
// cancels them, so an io_context stopped with timers pending is safe to destroy afterwards.
class ServiceNotifier {
 public:
  static constexpr auto kReadyPoll = std::chrono::milliseconds(200);
  static constexpr auto kStatusEvery = std::chrono::seconds(10);

  ServiceNotifier(asio::io_context& io, ServiceNotify notify)
      : notify_(std::move(notify)), ready_timer_(io), status_timer_(io), watchdog_timer_(io) {}
  ~ServiceNotifier() {
    ready_timer_.cancel();
    status_timer_.cancel();
    watchdog_timer_.cancel();
  }

  // Call before io.run(): posts the readiness check behind the accept loops already started.
  void start() {
    if (!sd::notify_enabled()) return;
    if (auto interval = sd::watchdog_interval()) {
      watchdog_every_ = *interval / 2;
      log::info("daemon", "", "systemd_watchdog", {{"ping_every_ms", watchdog_every_.count() / 1000}});
      arm_watchdog(std::chrono::microseconds(0));
    }
    arm_ready(std::chrono::milliseconds(0));
  }
  void reloading() {
    if (!ready_sent_) return;
    sd::notify("RELOADING=1\n" + sd::monotonic_usec_assignment() + "\n" + sd::status_assignment("reloading"));
  }
  void reloaded() {
    if (ready_sent_) sd::notify("READY=1\n" + status_assignment());
  }
  void stopping() { sd::notify("STOPPING=1\n" + sd::status_assignment("stopping")); }

 private:
  std::string status_assignment() const { return notify_.status_line ? sd::status_assignment(notify_.status_line()) : ""; }

  void arm_ready(std::chrono::milliseconds after) {
    ready_timer_.expires_after(after);
    ready_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      if (notify_.ready && !notify_.ready()) {
        if (!status_sent_) {  // say what we wait for while "activating"
          status_sent_ = true;
          if (auto st = status_assignment(); !st.empty()) sd::notify(st);
        }
        arm_ready(kReadyPoll);
        return;
      }
      ready_sent_ = true;
      sd::notify("READY=1\n" + status_assignment());
      log::info("daemon", "", "systemd_notified", {{"state", "READY"}});
      if (notify_.status_line) arm_status();
    });
  }
  void arm_status() {
    status_timer_.expires_after(kStatusEvery);
    status_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      sd::notify(status_assignment());
      arm_status();
    });
  }
  void arm_watchdog(std::chrono::microseconds after) {
    watchdog_timer_.expires_after(after);
    watchdog_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      sd::notify("WATCHDOG=1");
      arm_watchdog(watchdog_every_);
    });
  }

  ServiceNotify notify_;
  asio::steady_timer ready_timer_, status_timer_, watchdog_timer_;
  std::chrono::microseconds watchdog_every_{0};
  bool ready_sent_ = false;
  bool status_sent_ = false;
};

std::string counter(const std::optional<status::Counters>& counters, std::string_view name) {
  if (counters) {
    for (const auto& [key, value] : *counters) {
      if (key == name) return std::to_string(value);
    }
  }
  return "0";
}

}  // namespace

void raise_descriptor_limit() {
  const auto limit = platform::raise_open_file_limit();
  if (limit.error) {
    log::warn("daemon", "", "open_files_limit_not_raised",
              {{"limit", limit.before}, {"error", limit.error.message()}});
  } else if (limit.after != limit.before) {
    log::info("daemon", "", "open_files_limit_raised", {{"from", limit.before}, {"to", limit.after}});
  }
}

void drop_to_run_as_user(const config::DaemonConfig& daemon, std::vector<platform::Capability> keep,
                         std::vector<std::string> extra_groups) {
  if (daemon.user == "root" || daemon.user == "0") {
    log::warn("daemon", "", "running_as_root", {{"reason", "[daemon] user = \"root\""}});
    return;
  }
  if (geteuid() != 0) return;  // started unprivileged: nothing to drop
  platform::drop_privileges({daemon.user, daemon.group, keep, extra_groups});
  std::string kept;
  for (auto c : keep) kept += (kept.empty() ? "" : ",") + std::string(platform::to_string(c));
  log::info("daemon", "", "privileges_dropped",
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

void run_until_signalled(asio::io_context& io, std::function<void()> on_stop, std::function<void()> on_reload,
                         ServiceNotify notify) {
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  ServiceNotifier notifier(io, std::move(notify));
  std::function<void(const asio::error_code&, int)> handler = [&](const asio::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      log::info("daemon", "", "reloading", {{"signal", "SIGHUP"}});
      if (on_reload) {
        notifier.reloading();
        on_reload();
        notifier.reloaded();
      }
      signals.async_wait(handler);
      return;
    }
    log::info("daemon", "", "stopping", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
    notifier.stopping();
    if (on_stop) on_stop();
    // Give closing connections a moment to flush, then stop regardless.
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(300));
    timer->async_wait([&io, timer](const asio::error_code&) { io.stop(); });
  };
  signals.async_wait(handler);
  notifier.start();
  io.run();
}

std::string summarize_status(const status::StatusReport& report) {
  if (report.role == "client") {
    if (report.sessions.empty()) return "connecting to the server";
    const auto& s = report.sessions.front();
    return "tunnel up " + s.inner_address + " via " + s.transport;
  }
  std::string out;
  if (report.data_plane) {
    const auto n = report.sessions.size();
    out = std::to_string(n) + (n == 1 ? " session" : " sessions");
  }
  if (report.smtp) {
    if (!out.empty()) out += "; ";
    out += "smtp " + counter(report.smtp, "queued") + " queued, " + counter(report.smtp, "messages_accepted") +
           " accepted, " + counter(report.smtp, "delivered") + " delivered";
  }
  return out;
}

std::function<std::string()> status_line_of(status::StatusSources sources) {
  return [sources = std::move(sources)] {
    return summarize_status(status::collect_status(sources, std::chrono::steady_clock::now()));
  };
}

}  // namespace postern::cli
