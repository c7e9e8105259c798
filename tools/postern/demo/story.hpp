// `postern demo`: the whole postern story on one machine, told step by step. Two network
// namespaces (laptop, site) joined by veth; a throwaway PKI and users file; the site daemon
// (tunnel server + SMTP on its tunnel address); the laptop daemon; a libpcap capture of the
// veth; two messages submitted from the laptop through the tunnel (587 STARTTLS, 465 TLS); the
// delivered Maildir files; proof that the wire carried only GRE-in-UDP and TLS; clean-up.
// Contract: every step prints one line "[n/9] what ... ok" (or FAILED with the reason and the
// tail of the relevant daemon log); everything created is removed on success, failure and
// Ctrl-C, unless keep is set. Needs root (checked by the command, not here).
#pragma once

#include <filesystem>
#include <optional>

namespace postern::cli::demo {

struct DemoOptions {
  bool keep = false;                                // leave namespaces and daemons running
  std::optional<std::filesystem::path> workdir;     // kept afterwards; default: a temp dir, removed
};

// Returns the process exit status: 0 success, 1 a step failed, 130 interrupted.
int run_demo(const DemoOptions& options);

// Stops a demo left running by --keep (or by a demo that was killed): daemons, namespaces, and
// its temp dir. Returns 0 (also when there was nothing to stop).
int stop_demo();

}  // namespace postern::cli::demo
