// Entry point of the `postern` binary: collects the registered subcommands (see command.hpp),
// parses the command line with CLI11 and runs the chosen one.
#include "tools/postern/command.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

namespace postern::cli {
namespace {

struct Entry {
  int order;
  Registrar registrar;
};

std::vector<Entry>& registry() {
  static std::vector<Entry> entries;
  return entries;
}

int g_exit_status = 0;

}  // namespace

RegisterCommand::RegisterCommand(int order, Registrar registrar) {
  registry().push_back({order, std::move(registrar)});
}

void set_exit_status(int status) { g_exit_status = status; }

}  // namespace postern::cli

int main(int argc, char** argv) {
  using namespace postern::cli;
  CLI::App app{
      "postern: a TLS-authenticated GRE-in-UDP tunnel from a laptop to its site, with the site's "
      "SMTP submission server built in.",
      "postern"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "postern 0.1.0");
  std::stable_sort(registry().begin(), registry().end(),
                   [](const Entry& a, const Entry& b) { return a.order < b.order; });
  for (auto& entry : registry()) entry.registrar(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (docs/commands.md), not CLI11's
    // own numbering.
    const int printed = app.exit(e);
    return printed == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::string name = app.get_subcommands().empty() ? "" : " " + app.get_subcommands().front()->get_name();
    std::fprintf(stderr, "postern%s: %s\n", name.c_str(), e.what());
    return 1;
  }
  return g_exit_status;
}
