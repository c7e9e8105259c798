// `postern demo [--keep] [--workdir DIR]` and `postern demo --stop`: the whole story (tunnel,
// SMTP submission through it, the wire seen from outside) on one machine, in two network
// namespaces; see docs/demo.md and tools/postern/demo/story.hpp. Root only: it says so plainly.
#include "tools/postern/command.hpp"
#include "tools/postern/demo/story.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace postern::cli {
namespace {

bool can_run_demo() {
  if (::geteuid() != 0) {
    std::fprintf(stderr,
                 "postern demo: needs root: it creates network namespaces, TUN devices and captures packets. "
                 "Run it as root (e.g. sudo postern demo).\n");
    return false;
  }
  std::error_code ec;
  if (!std::filesystem::exists("/dev/net/tun", ec)) {
    std::fprintf(stderr, "postern demo: /dev/net/tun is missing (load the tun module: modprobe tun)\n");
    return false;
  }
  return true;
}

POSTERN_REGISTER_COMMAND(90, [](CLI::App& app) {
  struct Args {
    bool keep = false;
    bool stop = false;
    std::string workdir;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "demo", "Show the whole story on this machine: laptop and site namespaces, tunnel, mail through it (root)");
  auto* keep = cmd->add_flag("--keep", args->keep, "leave the namespaces and daemons running afterwards");
  auto* workdir = cmd->add_option("--workdir", args->workdir,
                                  "put PKI, configs, logs, Maildir and capture here and keep it (default: a temp dir)");
  cmd->add_flag("--stop", args->stop, "stop a demo left running by --keep and remove what it made")
      ->excludes(keep)
      ->excludes(workdir);
  cmd->callback([args] {
    if (!can_run_demo()) {
      set_exit_status(1);
      return;
    }
    if (args->stop) {
      set_exit_status(demo::stop_demo());
      return;
    }
    demo::DemoOptions options;
    options.keep = args->keep;
    if (!args->workdir.empty()) options.workdir = args->workdir;
    set_exit_status(demo::run_demo(options));
  });
});

}  // namespace
}  // namespace postern::cli
