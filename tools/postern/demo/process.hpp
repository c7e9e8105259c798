// Child processes for `postern demo`, the one-machine orchestrator: run a command to completion
// (stdin given, stdout+stderr collected, with a deadline), start a daemon detached in its own
// session with its output in a log file, stop a process (SIGTERM, grace, SIGKILL), and the
// Ctrl-C flag every wait loop checks. This is tool code, not a daemon: fork/exec is fine here.
// Contract: nothing here throws on a child's failure; callers decide from RunResult.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace postern::cli::demo {

// SIGINT, SIGTERM and SIGHUP set a flag instead of killing the demo, so it can clean up.
void install_interrupt_handlers();
bool interrupted();
// For clean-up: clears the flag and ignores further SIGINT/SIGTERM/SIGHUP, so the clean-up's own
// `ip` commands are not cut short by a second Ctrl-C.
void begin_uninterruptible();

struct RunResult {
  int status = -1;     // exit status, 128 + signal when killed, -1 when it could not start
  bool timed_out = false;
  std::string output;  // stdout and stderr interleaved
};

// Runs argv[0] (searched in PATH) with `input` on stdin; kills it after `timeout` or on Ctrl-C.
RunResult run(const std::vector<std::string>& argv, std::string_view input = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Starts argv in a new session (so it outlives the demo with --keep and does not see the
// terminal's Ctrl-C), stdin from /dev/null, stdout+stderr into `log_file`. Throws if fork fails.
pid_t spawn_detached(const std::vector<std::string>& argv, const std::filesystem::path& log_file);

// True while `pid` exists (and, for our children, has not been reaped).
bool process_alive(pid_t pid);

// SIGTERM, then SIGKILL after `grace`; reaps it when it is our child. Returns once it is gone
// (or after a further second, if even SIGKILL did not take).
void stop_process(pid_t pid, std::chrono::milliseconds grace);

// Sleeps in small slices; returns false early on Ctrl-C.
bool sleep_for(std::chrono::milliseconds duration);

// The running binary, so the demo runs the very `postern` it is part of.
std::string self_exe();

// Last `lines` lines of a text file ("" when it cannot be read).
std::string tail_of(const std::filesystem::path& file, std::size_t lines);

}  // namespace postern::cli::demo
