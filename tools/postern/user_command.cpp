// `postern user add|del|list FILE ...`: manages the scrypt users file shared by tunnel password
// auth and SMTP AUTH (see auth/users_db.hpp). `add` reads the password as
// password_prompt.hpp says (stdin's first line when it is not a terminal, else prompted twice
// without echo). The file is rewritten atomically, keeping its owner, group and mode (a new
// file: 0640, the directory's group), so a running daemon, already dropped to its run-as user,
// re-reads it on SIGHUP.
#include "tools/postern/command.hpp"
#include "tools/postern/password_prompt.hpp"
#include "auth/users_db.hpp"

#include <cstdio>
#include <filesystem>

namespace postern::cli {
namespace {

namespace auth = postern::auth;

void open_db(auth::UsersDb& db, const std::string& file, bool create) {
  if (create && !std::filesystem::exists(file)) {
    db.reset(file);
    return;
  }
  db.load(file);
}

POSTERN_REGISTER_COMMAND(60, [](CLI::App& app) {
  CLI::App* user = app.add_subcommand("user", "Manage the users file (scrypt password hashes)");
  user->require_subcommand(1);

  struct Args {
    std::string file;
    std::string name;
    int cost = 15;
  };
  auto args = std::make_shared<Args>();

  CLI::App* add = user->add_subcommand("add", "Add a user or replace their password");
  add->add_option("file", args->file, "Users file (created if missing)")->required();
  add->add_option("name", args->name, "User name (for SMTP AUTH often the mail address)")->required();
  add->add_option("--cost", args->cost, "scrypt cost as log2(N)")->check(CLI::Range(10, 20))->capture_default_str();
  add->callback([args] {
    SecretBytes password = read_new_password("New password");
    auth::UsersDb db(auth::ScryptParams{static_cast<std::uint8_t>(args->cost), 8, 1});
    open_db(db, args->file, true);
    bool replaced = db.set_password(args->name, password);
    db.save();
    std::printf("%s user %s %s %s\n", replaced ? "updated" : "added", args->name.c_str(), replaced ? "in" : "to",
                args->file.c_str());
  });

  CLI::App* del = user->add_subcommand("del", "Remove a user");
  del->add_option("file", args->file, "Users file")->required();
  del->add_option("name", args->name, "User name")->required();
  del->callback([args] {
    auth::UsersDb db;
    open_db(db, args->file, false);
    if (!db.remove(args->name)) {
      std::fprintf(stderr, "postern user del: no user %s in %s\n", args->name.c_str(), args->file.c_str());
      set_exit_status(1);
      return;
    }
    db.save();
    std::printf("removed user %s from %s\n", args->name.c_str(), args->file.c_str());
  });

  CLI::App* list = user->add_subcommand("list", "List user names");
  list->add_option("file", args->file, "Users file")->required();
  list->callback([args] {
    auth::UsersDb db;
    open_db(db, args->file, false);
    for (const auto& name : db.names()) std::printf("%s\n", name.c_str());
  });
});

}  // namespace
}  // namespace postern::cli
