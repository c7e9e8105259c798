// The root part of pushed DNS. The client drops to an unprivileged user after setup, but
// /etc/resolv.conf (and resolved's per-link settings, through resolvectl) need root until the
// very end, also when the daemon is killed. So, before the drop, spawn() forks a small helper
// that keeps root and does only this: it answers "apply" and "restore" requests (resolver.hpp
// has the format, which it re-validates) from the daemon over a socketpair, and restores by
// itself when the daemon's end closes, which the kernel does for every exit of the daemon,
// kill -9 included. It ignores SIGINT/SIGTERM/SIGHUP (a terminal's Ctrl-C or systemd's stop
// reach the whole process group; it must outlive the daemon to undo its change).
// Crash recovery: the helper first restores a backup a previous run left behind (daemon and
// helper both killed, or a power cut), then serves requests.
// Contract: spawn() is setup-time, like the privilege drop: call it while the process has one
// thread; it throws std::system_error if fork or socketpair fail. apply()/restore() block for
// the helper's answer (a file write, or three resolvectl runs) and return "" or an error text.
// The destructor closes the socket and waits for the helper, so its restore has finished when
// the daemon exits.
#pragma once

#include "platform/resolver.hpp"
#include "platform/unique_fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

namespace postern::platform {

struct ResolverOptions {
  std::optional<ResolverBackend> backend;  // nullopt: resolved if resolved_running(), else file
  std::filesystem::path resolv_conf = "/etc/resolv.conf";
  std::filesystem::path state_dir = "/run/postern";  // the file backend's backup lives here
  std::string interface;                              // names the backup file
};

class ResolverHelper {
 public:
  static std::unique_ptr<ResolverHelper> spawn(const ResolverOptions& options);
  ~ResolverHelper();
  ResolverHelper(const ResolverHelper&) = delete;
  ResolverHelper& operator=(const ResolverHelper&) = delete;

  std::string apply(const DnsSettings& settings);
  std::string restore();
  ResolverBackend backend() const { return backend_; }

 private:
  ResolverHelper(UniqueFd socket, pid_t pid, ResolverBackend backend)
      : socket_(std::move(socket)), pid_(pid), backend_(backend) {}
  std::string request(const std::string& text);

  UniqueFd socket_;
  pid_t pid_ = -1;
  ResolverBackend backend_;
};

// <state_dir>/<interface>.resolv.conf.backup
std::filesystem::path resolv_conf_backup_path(const ResolverOptions& options);

}  // namespace postern::platform
