// `postern status [-c CONFIG | --socket PATH] [--json]`: asks a running daemon (server or
// client) for its state over its status socket ([daemon] status_socket) and prints it, as text
// for people or as JSON for scripts (schema in docs/commands-status.md). Exit status: 0 with an
// answer, 1 when no answer (no daemon, permission, refused), 2 on usage errors.
#include "tools/postern/command.hpp"
#include "tools/postern/status/status_client.hpp"

#include "common/config.hpp"

#include <cstdio>
#include <memory>
#include <string>

namespace postern::cli {
namespace {

struct StatusOptions {
  std::string config;
  std::string socket;
  bool json = false;
};

int run_status(const StatusOptions& options) {
  std::filesystem::path socket_path = options.socket;
  if (socket_path.empty()) {
    // Only [daemon] status_socket is needed, but the whole file is validated: a typo that would
    // make the daemon refuse to start is worth saying here too.
    socket_path = config::load_config(options.config).daemon.status_socket;
  }
  status::StatusAnswer answer = status::request_status(socket_path, options.json);
  if (!answer.ok()) {
    std::fprintf(stderr, "postern status: %s\n", answer.error.c_str());
    return 1;
  }
  std::fwrite(answer.body.data(), 1, answer.body.size(), stdout);
  return 0;
}

POSTERN_REGISTER_COMMAND(30, [](CLI::App& app) {
  auto* cmd = app.add_subcommand("status", "Show a running daemon's sessions and counters (root)");
  auto options = std::make_shared<StatusOptions>();
  auto* config = cmd->add_option("-c,--config", options->config, "The daemon's configuration file (for status_socket)");
  auto* socket = cmd->add_option("--socket", options->socket, "The status socket path");
  config->excludes(socket);
  socket->excludes(config);
  cmd->add_flag("--json", options->json, "Print JSON (stable schema, see docs/commands-status.md)");
  cmd->callback([options] {
    if (options->config.empty() && options->socket.empty()) {
      throw CLI::ValidationError("status", "give -c CONFIG or --socket PATH");
    }
    set_exit_status(run_status(*options));
  });
});

}  // namespace
}  // namespace postern::cli
