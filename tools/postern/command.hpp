// The `postern` binary is a set of subcommands. Each *_command.cpp file registers its own
// subcommands with POSTERN_REGISTER_COMMAND, so adding a command is adding a file.
// A command's run function returns the process exit status; startup errors may throw
// std::exception, which main() prints as "postern <cmd>: <what>" and exits 1.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace postern::cli {

// Called once with the top-level app; must add the subcommand(s) and set their callbacks.
// Callbacks store their exit status with set_exit_status().
using Registrar = std::function<void(CLI::App& app)>;

struct RegisterCommand {
  RegisterCommand(int order, Registrar registrar);
};

void set_exit_status(int status);

}  // namespace postern::cli

#define POSTERN_CONCAT_INNER(a, b) a##b
#define POSTERN_CONCAT(a, b) POSTERN_CONCAT_INNER(a, b)
// order: position in --help (lower first).
#define POSTERN_REGISTER_COMMAND(order, fn) \
  static const ::postern::cli::RegisterCommand POSTERN_CONCAT(postern_register_, __LINE__)(order, fn)
