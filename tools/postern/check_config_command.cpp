// `postern check-config FILE [--syntax-only]`: loads and validates a configuration file, then
// runs the server's start-up checks (tools/postern/preflight.hpp: files open and parse, files
// re-read at SIGHUP readable by the run-as user, listeners bindable), and prints
//   site.toml: ok (server with smtp: 3 listeners; metrics on 127.0.0.1:9477)
// or each problem ("site.toml:7: [tunnel] users: ...\n  fix: ...") and exits 1. An address in
// use is a warning here (the live daemon may hold it). --syntax-only stops after the parse.
#include "common/config.hpp"
#include "tools/postern/command.hpp"
#include "tools/postern/preflight.hpp"

#include <cstdio>
#include <string>

namespace postern::cli {
namespace {

std::string summary(const config::Config& c) {
  std::string out = c.server ? "server" : c.client ? "client" : "";
  if (c.smtp) {
    std::string smtp = "smtp: " + std::to_string(c.smtp->listen.size()) +
                       (c.smtp->listen.size() == 1 ? " listener" : " listeners");
    out = out.empty() ? smtp : out + " with " + smtp;
  }
  if (c.daemon.metrics) out += "; metrics on " + c.daemon.metrics->to_string();
  return out;
}

POSTERN_REGISTER_COMMAND(40, [](CLI::App& app) {
  struct Args {
    std::string file;
    bool syntax_only = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("check-config", "Validate a configuration file and run the daemon's start-up checks");
  cmd->add_option("file", args->file, "Configuration file (TOML)")->required();
  cmd->add_flag("--syntax-only", args->syntax_only, "Only parse and validate the file; open nothing it names");
  cmd->callback([args] {
    try {
      config::Config c = config::load_config(args->file);
      bool failed = false;
      if (!args->syntax_only) {
        for (const auto& problem : preflight(c, {.in_use_warns = true, .run_as_files = true})) {
          std::fprintf(stderr, "%s\n", problem.text().c_str());
          failed = failed || !problem.warning;
        }
      }
      if (failed) {
        set_exit_status(1);
        return;
      }
      std::printf("%s: ok (%s)\n", args->file.c_str(), summary(c).c_str());
    } catch (const config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      set_exit_status(1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", args->file.c_str(), e.what());
      set_exit_status(1);
    }
  });
});

}  // namespace
}  // namespace postern::cli
