// The checks `postern server` runs before it opens anything, and `postern check-config` runs
// without starting: every file the configuration names opens and parses (certificates and
// their keys, CAs, CRL, deny list, users, sender and recipient maps, password files); every file
// the server re-reads at SIGHUP is readable by the run-as user ([daemon] user/group, with
// [smtp] maildir_group); every listener's address can be bound on this host. Each problem
// names file:line, section and key, what is wrong, and the fix, so a daemon refusing to start
// and check-config say the same words.
// Contract: no state is kept (listener probes bind and close at once); problems are values.
#pragma once

#include "common/config.hpp"

#include <string>
#include <vector>

namespace postern::cli {

struct PreflightProblem {
  std::string where;  // "site.toml:7: [tunnel] users"
  std::string what;   // "/etc/postern/users.db: cannot open: No such file or directory"
  std::string fix;    // "create it: postern user add /etc/postern/users.db NAME"
  bool warning = false;  // reported, but the daemon could still start
  // "site.toml:7: [tunnel] users: /etc/...: cannot open ...\n  fix: create it: ..."
  std::string text() const;
};

struct PreflightOptions {
  // How an address already in use counts: check-config may run beside the live daemon it checks.
  bool in_use_warns = false;
  // Judge the SIGHUP files as the run-as user: the server does when it will drop privileges
  // (started as root), check-config always (it predicts the daemon started as root).
  bool run_as_files = true;
};

std::vector<PreflightProblem> preflight(const config::Config& config, const PreflightOptions& options);

}  // namespace postern::cli
