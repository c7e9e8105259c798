// The privileged DNS helper process (see resolver_helper.hpp).
#include "platform/resolver_helper.hpp"

#include "common/log.hpp"
#include "platform/resolv_conf_file.hpp"
#include "platform/sys_error.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

extern char** environ;

namespace postern::platform {
namespace {

constexpr std::size_t kMaxMessage = 16 * 1024;

// Runs argv (argv[0] looked up in PATH, no shell) and waits; "" or what went wrong.
std::string run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ); rc != 0) {
    return "cannot run " + args[0] + ": " + std::error_code(rc, std::system_category()).message();
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + (a.empty() ? std::string("''") : a);
  return line + (WIFEXITED(status) ? " exited with " + std::to_string(WEXITSTATUS(status)) : " was killed");
}

class Helper {
 public:
  Helper(const ResolverOptions& o, ResolverBackend backend)
      : backend_(backend), file_(o.resolv_conf, resolv_conf_backup_path(o)) {}

  // A backup at start belongs to a run that ended without restoring: put the original back.
  void recover() {
    if (!file_.has_backup()) return;
    std::string error;
    if (file_.restore(error)) {
      log::error("dns", "", "crash_restore_failed", {{"error", error}});
    } else {
      log::info("dns", "", "crash_restored", {{"file", file_.target().string()}});
    }
  }

  std::string handle(std::string_view text) {
    if (text == kRestoreRequest) return restore();
    auto settings = decode_apply_request(text);
    if (!settings) return "malformed request";
    return apply(*settings);
  }

  std::string restore() {
    std::string result;
    if (backend_ == ResolverBackend::resolved && !applied_interface_.empty()) {
      // The kernel removing the TUN device makes resolved forget the link by itself.
      if (::if_nametoindex(applied_interface_.c_str()) != 0) result = run(resolvectl_revert_command(applied_interface_));
      applied_interface_.clear();
    }
    std::string error;
    if (file_.restore(error)) result += (result.empty() ? "" : "; ") + error;
    return result;
  }

 private:
  std::string apply(const DnsSettings& s) {
    if (backend_ == ResolverBackend::resolved) {
      applied_interface_ = s.interface;
      for (const auto& command : resolvectl_apply_commands(s)) {
        if (auto error = run(command); !error.empty()) return error;
      }
      return "";
    }
    std::string error;
    file_.apply(s, error);
    return error;
  }

  ResolverBackend backend_;
  ResolvConfFile file_;
  std::string applied_interface_;
};

[[noreturn]] void helper_main(int fd, const ResolverOptions& options, ResolverBackend backend) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
  ::prctl(PR_SET_NAME, "postern-dns", 0, 0, 0);
  Helper helper(options, backend);
  helper.recover();
  std::array<char, kMaxMessage> buf;
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the daemon exited (or was killed): undo everything
    std::string reply = helper.handle(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (reply.empty()) reply = "ok";
    if (::send(fd, reply.data(), std::min(reply.size(), kMaxMessage), MSG_NOSIGNAL) < 0) break;
  }
  if (auto error = helper.restore(); !error.empty()) log::error("dns", "", "restore_failed", {{"error", error}});
  ::_exit(0);
}

}  // namespace

std::filesystem::path resolv_conf_backup_path(const ResolverOptions& o) {
  return o.state_dir / (o.interface + ".resolv.conf.backup");
}

std::unique_ptr<ResolverHelper> ResolverHelper::spawn(const ResolverOptions& options) {
  ResolverBackend backend = options.backend.value_or(resolved_running() ? ResolverBackend::resolved
                                                                         : ResolverBackend::file);
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair for the DNS helper");
  UniqueFd ours(fds[0]), theirs(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork the DNS helper");
  if (pid == 0) {
    // Nothing of the daemon (TUN, sockets, keys in files) stays open in the helper.
    int fd = theirs.get();
    if (fd != 3) {
      ::dup2(fd, 3);  // dup2 clears close-on-exec: set it again, resolvectl must not get it
      ::fcntl(3, F_SETFD, FD_CLOEXEC);
      fd = 3;
    }
    ::close_range(4, ~0U, 0);
    helper_main(fd, options, backend);
  }
  theirs.reset();
  log::info("dns", "", "helper_started", {{"backend", to_string(backend)}, {"pid", static_cast<long>(pid)}});
  return std::unique_ptr<ResolverHelper>(new ResolverHelper(std::move(ours), pid, backend));
}

ResolverHelper::~ResolverHelper() {
  socket_.reset();  // EOF: the helper restores whatever is still applied, then exits
  int status = 0;
  while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

std::string ResolverHelper::apply(const DnsSettings& settings) { return request(encode_apply_request(settings)); }
std::string ResolverHelper::restore() { return request(std::string(kRestoreRequest)); }

std::string ResolverHelper::request(const std::string& text) {
  if (::send(socket_.get(), text.data(), text.size(), MSG_NOSIGNAL) < 0) {
    return "DNS helper gone: " + last_error().message();
  }
  std::array<char, kMaxMessage> buf;
  ssize_t n;
  do {
    n = ::recv(socket_.get(), buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return "DNS helper gone";
  std::string reply(buf.data(), static_cast<std::size_t>(n));
  return reply == "ok" ? "" : reply;
}

}  // namespace postern::platform
