// Network namespaces and veth links for `postern demo` via iproute2 (see netns.hpp).
#include "tools/postern/demo/netns.hpp"

#include "tools/postern/demo/process.hpp"

#include <signal.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace postern::cli::demo {
namespace {

// Runs `ip ...` and throws with its output when it fails.
void ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, {}, std::chrono::seconds(10));
  if (r.status == 0) return;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  std::string why = r.output.empty() ? "exit status " + std::to_string(r.status) : r.output;
  while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
  if (r.status == 127) why = "cannot run `ip` (is iproute2 installed?)";
  throw std::runtime_error("`" + cmd + "` failed: " + why);
}

}  // namespace

bool namespace_exists(const std::string& name) {
  std::error_code ec;
  return std::filesystem::exists("/run/netns/" + name, ec);
}

void add_namespace(const std::string& name) {
  ip({"netns", "add", name});
  ip({"-n", name, "link", "set", "lo", "up"});
}

std::vector<pid_t> namespace_pids(const std::string& name) {
  std::vector<pid_t> pids;
  if (!namespace_exists(name)) return pids;
  RunResult r = run({"ip", "netns", "pids", name}, {}, std::chrono::seconds(5));
  std::istringstream in(r.output);
  long pid = 0;
  while (in >> pid) {
    if (pid > 1) pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

void delete_namespace(const std::string& name) {
  if (!namespace_exists(name)) return;
  for (pid_t pid : namespace_pids(name)) ::kill(pid, SIGTERM);
  for (int i = 0; i < 30 && !namespace_pids(name).empty(); ++i) sleep_for(std::chrono::milliseconds(100));
  for (pid_t pid : namespace_pids(name)) stop_process(pid, std::chrono::milliseconds(0));
  ip({"netns", "del", name});
}

void add_veth(const VethEnd& a, const VethEnd& b) {
  // Created in the root namespace and moved, so neither end ever has a name clash inside.
  ip({"link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname});
  try {
    for (const VethEnd* end : {&a, &b}) {
      ip({"link", "set", end->ifname, "netns", end->ns});
      ip({"-n", end->ns, "addr", "add", end->cidr, "dev", end->ifname});
      ip({"-n", end->ns, "link", "set", end->ifname, "up"});
    }
  } catch (...) {
    run({"ip", "link", "del", a.ifname}, {}, std::chrono::seconds(5));  // if still in the root namespace
    throw;
  }
}

std::optional<std::string> interface_ipv4(const std::string& ns, const std::string& ifname) {
  RunResult r = run({"ip", "-n", ns, "-4", "-o", "addr", "show", "dev", ifname}, {}, std::chrono::seconds(5));
  if (r.status != 0) return std::nullopt;
  // "5: pdemo0    inet 10.77.0.2/32 scope global pdemo0\       valid_lft ..."
  std::istringstream in(r.output);
  std::string word;
  while (in >> word) {
    if (word == "inet" && in >> word) return word.substr(0, word.find('/'));
  }
  return std::nullopt;
}

std::vector<std::string> in_namespace(const std::string& ns, std::vector<std::string> argv) {
  std::vector<std::string> out{"ip", "netns", "exec", ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace postern::cli::demo
