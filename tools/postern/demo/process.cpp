// Child processes for `postern demo` (see process.hpp). fork/exec with pipes and poll(2); the
// signal handler only sets a flag (async-signal-safe), every loop here polls it.
#include "tools/postern/demo/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <deque>
#include <stdexcept>
#include <thread>

namespace postern::cli::demo {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) { g_interrupted = 1; }

using Clock = std::chrono::steady_clock;

// In the child after fork: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  ::execvp(args[0], args.data());
  static const char msg[] = "postern demo: cannot execute the command\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  ::_exit(127);
}

int decode_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

// Writes all of `input` (small: a password and a message) then closes the pipe.
void feed_input(int fd, std::string_view input) {
  while (!input.empty()) {
    ssize_t n = ::write(fd, input.data(), input.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child closed stdin early: its exit status will tell
    input.remove_prefix(static_cast<std::size_t>(n));
  }
  ::close(fd);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR so loops notice at once
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() { return g_interrupted != 0; }

void begin_uninterruptible() {
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  g_interrupted = 0;
}

RunResult run(const std::vector<std::string>& argv, std::string_view input, std::chrono::milliseconds timeout) {
  RunResult result;
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return result;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(out_pipe[1], STDERR_FILENO);
    exec_child(argv);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (pid < 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return result;
  }
  feed_input(in_pipe[1], input);
  auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    if (interrupted() || Clock::now() >= deadline) {
      result.timed_out = !interrupted();
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{out_pipe[0], POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int raw = 0;
  while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  result.status = decode_status(raw);
  return result;
}

pid_t spawn_detached(const std::vector<std::string>& argv, const std::filesystem::path& log_file) {
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_file.string());
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    exec_child(argv);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) throw std::runtime_error("cannot fork");
  return pid;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  int raw = 0;
  pid_t r = ::waitpid(pid, &raw, WNOHANG);
  if (r == pid) return false;  // our child, now reaped
  return ::kill(pid, 0) == 0;
}

void stop_process(pid_t pid, std::chrono::milliseconds grace) {
  if (!process_alive(pid)) return;
  ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (process_alive(pid) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!process_alive(pid)) return;
  ::kill(pid, SIGKILL);
  deadline = Clock::now() + std::chrono::seconds(1);
  while (process_alive(pid) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

bool sleep_for(std::chrono::milliseconds duration) {
  auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline) {
    if (interrupted()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) +
            std::chrono::milliseconds(1)));
  }
  return !interrupted();
}

std::string self_exe() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("postern") : path.string();
}

std::string tail_of(const std::filesystem::path& file, std::size_t lines) {
  std::ifstream in(file);
  if (!in) return {};
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "    | " + l + "\n";
  return out;
}

}  // namespace postern::cli::demo
