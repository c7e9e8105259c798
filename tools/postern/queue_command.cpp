// `postern queue` — the mail queue, the way Postfix's mailq/postqueue/postsuper are used:
//   postern queue [list] -c site.toml [--json]     every message, its recipients, their state
//   postern queue show ID -c site.toml [--json]    one message in full
//   postern queue retry (ID | --all) -c site.toml  attempt now
//   postern queue hold ID | release ID             stop / resume attempts (durable)
//   postern queue delete ID                        remove without a bounce (logged)
// Everything goes through the running server's status socket (root or the daemon's user only,
// like `postern status`). When no server runs, `list` and `show` read the spool directly (read
// only: nothing in it is changed); the other verbs need the running server, which owns the queue.
// Exit status: 0 done, 1 failed (no such message, no daemon, refused), 2 usage.
// Socket requests (one line each): "queue list json|text", "queue show ID json|text",
// "queue retry ID|all", "queue hold ID", "queue release ID", "queue delete ID".
#include "tools/postern/command.hpp"
#include "tools/postern/queue/queue_collect.hpp"
#include "tools/postern/status/status_client.hpp"

#include "common/config.hpp"
#include "smtp/spool/queue_snapshot.hpp"
#include "smtp/spool/spool.hpp"

#include <cstdio>
#include <memory>
#include <string>

namespace postern::cli {
namespace {

struct QueueOptions {
  std::string config;
  std::string verb = "list";
  std::string id;
  bool all = false;
  bool json = false;
};

int print_error(const std::string& message) {
  std::fprintf(stderr, "postern queue: %s\n", message.c_str());
  return 1;
}

// A stopped server: read its spool (no open(), nothing is changed).
int list_from_spool(const config::Config& cfg, const QueueOptions& options) {
  smtp::spool::Spool spool(cfg.smtp->spool, [] { return std::uint64_t{0}; });
  std::vector<smtp::spool::MessageSnapshot> snapshots;
  if (auto ec = smtp::spool::list_queue_snapshot(spool, snapshots)) {
    return print_error("cannot read the spool " + cfg.smtp->spool.string() + ": " + ec.message());
  }
  queue::QueueListing listing = queue::make_listing(snapshots, "spool", std::chrono::system_clock::now());
  std::string out;
  if (options.verb == "list") {
    out = options.json ? queue::format_json(listing) : queue::format_text(listing);
  } else {
    auto text = queue::format_message(listing, options.id);
    if (!text) return print_error("no message " + options.id + " in the spool " + cfg.smtp->spool.string());
    if (options.json) {
      for (const auto& m : listing.messages) {
        if (m.id == options.id) out = queue::format_json(queue::QueueListing{"spool", {m}});
      }
    } else {
      out = *text;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

std::string request_for(const QueueOptions& o) {
  using Verb = status::QueueRequest::Verb;
  Verb verb = Verb::list;
  if (o.verb == "show") verb = Verb::show;
  else if (o.verb == "retry") verb = o.all ? Verb::retry_all : Verb::retry;
  else if (o.verb == "hold") verb = Verb::hold;
  else if (o.verb == "release") verb = Verb::release;
  else if (o.verb == "delete") verb = Verb::remove;
  return status::encode_request(status::QueueRequest{verb, o.id, o.json ? status::Format::json : status::Format::text});
}

int run_queue(const QueueOptions& options) {
  const config::Config cfg = config::load_config(options.config);
  if (!cfg.smtp) return print_error(options.config + " has no [smtp] section: there is no mail queue");
  const auto& socket = cfg.daemon.status_socket;
  if (status::no_daemon(socket)) {
    if (options.verb == "list" || options.verb == "show") return list_from_spool(cfg, options);
    return print_error("no server is running with " + options.config + " (" + socket.string() +
                       "): `" + options.verb + "` acts on the running queue; start the server first");
  }
  status::StatusAnswer answer = status::request_line(socket, request_for(options));
  if (!answer.ok()) return print_error(answer.error);
  std::fwrite(answer.body.data(), 1, answer.body.size(), stdout);
  return 0;
}

POSTERN_REGISTER_COMMAND(35, [](CLI::App& app) {
  auto* cmd = app.add_subcommand("queue", "List and manage the mail queue (root): list, show, retry, hold, release, delete");
  auto options = std::make_shared<QueueOptions>();
  cmd->add_option("-c,--config", options->config, "The server's configuration file")->required();
  cmd->add_flag("--json", options->json, "list/show: print JSON (schema in docs/commands-queue.md)");
  auto add_verb = [&](const char* name, const char* help, bool takes_id) {
    auto* sub = cmd->add_subcommand(name, help);
    if (takes_id) sub->add_option("id", options->id, "Queue id (as `postern queue` lists it)")->required();
    sub->callback([options, name] { options->verb = name; });
    return sub;
  };
  add_verb("list", "List every queued message (the default)", false);
  add_verb("show", "Show one message: envelope, each recipient's state and last error", true);
  auto* retry = cmd->add_subcommand("retry", "Attempt a deferred message now (or --all)");
  retry->add_option("id", options->id, "Queue id");
  retry->add_flag("--all", options->all, "Every queued message");
  retry->callback([options] {
    options->verb = "retry";
    if (options->all == !options->id.empty()) throw CLI::ValidationError("retry", "give a queue id or --all");
  });
  add_verb("hold", "Stop attempting a message until `release` (survives restarts)", true);
  add_verb("release", "Resume attempts for a held message", true);
  add_verb("delete", "Remove a message from the queue without a bounce (logged)", true);
  cmd->require_subcommand(0, 1);
  // `postern queue list --json` as well as `postern queue --json list`.
  for (auto* sub : cmd->get_subcommands({})) sub->fallthrough();
  cmd->final_callback([options] { set_exit_status(run_queue(*options)); });
});

}  // namespace
}  // namespace postern::cli
