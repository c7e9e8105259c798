// `postern demo` step by step (see story.hpp). Each step is a member function returning detail
// lines; step() prints "[n/9] title ... ok|FAILED". Failures are StepFailure (the reason and the
// daemon log worth showing); Ctrl-C is Interrupted, thrown from wait loops. Clean-up always runs
// (it is the last step) unless --keep and everything went well.
// The demo password is a throwaway credential of a throwaway users file: it lives in a
// std::string and in DIR/demo-password on purpose, so a --keep user can reuse it.
#include "tools/postern/demo/story.hpp"

#include "tools/postern/demo/netns.hpp"
#include "tools/postern/demo/process.hpp"
#include "tools/postern/demo/site_files.hpp"
#include "tools/postern/demo/wire_capture.hpp"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace postern::cli::demo {
namespace {

namespace fs = std::filesystem;
using Details = std::vector<std::string>;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kSteps = 9;

struct StepFailure : std::runtime_error {
  StepFailure(const std::string& why, fs::path log_file = {}) : std::runtime_error(why), log(std::move(log_file)) {}
  fs::path log;
};
struct Interrupted {};

void check_interrupt() {
  if (interrupted()) throw Interrupted{};
}

// The parent folders of `dir` must let the daemons' run-as user (nobody) through.
void require_searchable(const fs::path& dir) {
  for (fs::path p = fs::absolute(dir).parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    std::error_code ec;
    auto perms = fs::status(p, ec).permissions();
    if (!ec && (perms & fs::perms::others_exec) == fs::perms::none) {
      throw StepFailure(p.string() + " is not searchable by others, so the daemons (which drop to user nobody) "
                        "could not reach " + dir.string() + "; pick a --workdir under /tmp or /srv");
    }
  }
}

std::string join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

class Demo {
 public:
  explicit Demo(DemoOptions options) : options_(std::move(options)), self_(self_exe()) {}
  int run();

 private:
  int run_steps();
  void step(int n, const std::string& title, const std::function<Details()>& body);
  Details make_namespaces();
  Details make_pki();
  Details start_server();
  Details start_client();
  Details start_capture();
  Details send_messages();
  Details show_mail();
  Details check_capture();
  Details clean_up();
  void prepare_workdir();
  void write_state() const;
  std::string send_one(int port, bool implicit_tls, const std::string& label);
  void wait_until(seconds limit, const std::string& what, const std::function<bool()>& done, pid_t daemon,
                  const fs::path& log);
  void print_keep_help() const;

  DemoOptions options_;
  std::string self_;
  fs::path dir_;
  bool remove_dir_ = false;
  bool own_namespaces_ = false;
  std::string password_;
  std::string marker_;
  pid_t server_pid_ = -1;
  pid_t client_pid_ = -1;
  WireCapture capture_;
};

void Demo::step(int n, const std::string& title, const std::function<Details()>& body) {
  std::printf("[%d/%d] %s ... ", n, kSteps, title.c_str());
  std::fflush(stdout);
  Details details;
  try {
    check_interrupt();
    details = body();
  } catch (const Interrupted&) {
    std::printf("interrupted\n");
    throw;
  } catch (const StepFailure& e) {
    std::printf("FAILED\n      %s\n", e.what());
    if (!e.log.empty()) std::printf("      last lines of %s:\n%s", e.log.c_str(), tail_of(e.log, 15).c_str());
    std::fflush(stdout);
    throw;
  } catch (const std::exception& e) {
    std::printf("FAILED\n      %s\n", e.what());
    std::fflush(stdout);
    throw StepFailure(e.what());
  }
  std::printf("ok\n");
  for (const auto& line : details) std::printf("      %s\n", line.c_str());
  std::fflush(stdout);
}

// Steps 1-8; returns 0, 1 (a step failed) or 130 (interrupted).
int Demo::run_steps() {
  int status = 0;
  try {
    step(1, std::string("creating namespaces ") + Stage::laptop_ns + " and " + Stage::site_ns + ", joined by veth",
         [this] { return make_namespaces(); });
    step(2, "making a throwaway PKI and users file (user demo, random password)", [this] { return make_pki(); });
    step(3, std::string("starting the site server in namespace ") + Stage::site_ns, [this] { return start_server(); });
    step(4, std::string("starting the laptop client in namespace ") + Stage::laptop_ns,
         [this] { return start_client(); });
    step(5, std::string("capturing the wire (veth ") + Stage::site_veth + ") with libpcap",
         [this] { return start_capture(); });
    step(6, "sending two messages from the laptop through the tunnel", [this] { return send_messages(); });
    step(7, "waiting for both messages in the site's Maildir", [this] { return show_mail(); });
    step(8, "checking the capture: only GRE-in-UDP and TLS, no SMTP, no message text",
         [this] { return check_capture(); });
  } catch (const Interrupted&) {
    std::printf("interrupted: cleaning up\n");
    status = 130;
  } catch (const StepFailure&) {
    status = 1;
  }
  return status;
}

int Demo::run() {
  install_interrupt_handlers();
  if (namespace_exists(Stage::site_ns) || namespace_exists(Stage::laptop_ns)) {
    std::fprintf(stderr,
                 "postern demo: network namespace %s or %s already exists, probably from an earlier "
                 "`postern demo --keep`.\nStop it first with:  postern demo --stop\n",
                 Stage::laptop_ns, Stage::site_ns);
    return 1;
  }
  try {
    prepare_workdir();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "postern demo: %s\n", e.what());
    return 1;
  }
  std::printf("postern demo: files in %s (%s)\n", dir_.c_str(),
              !remove_dir_ ? "kept: --workdir" : options_.keep ? "kept with --keep if every step passes" : "removed at the end");
  int status = run_steps();
  if (status == 0 && options_.keep) {
    std::printf("[9/9] leaving the demo running (--keep) ... ok\n");
    print_keep_help();
    return 0;
  }
  begin_uninterruptible();
  try {
    step(9, "cleaning up (daemons, namespaces, files)", [this] { return clean_up(); });
  } catch (...) {
    return status == 0 ? 1 : status;
  }
  if (status == 0) std::printf("postern demo: all steps passed\n");
  return status;
}

Details Demo::make_namespaces() {
  own_namespaces_ = true;  // from here on, clean-up deletes them (they did not exist before)
  add_namespace(Stage::laptop_ns);
  add_namespace(Stage::site_ns);
  add_veth({Stage::laptop_ns, Stage::laptop_veth, Stage::laptop_cidr},
           {Stage::site_ns, Stage::site_veth, Stage::site_cidr});
  return {std::string("laptop ") + Stage::laptop_veth + " " + Stage::laptop_cidr + "  <->  site " +
          Stage::site_veth + " " + Stage::site_cidr};
}

void Demo::prepare_workdir() {
  if (options_.workdir) {
    dir_ = fs::absolute(*options_.workdir);
    fs::create_directories(dir_);
    if (!fs::is_empty(dir_)) throw StepFailure("--workdir " + dir_.string() + " is not empty");
    fs::permissions(dir_, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  } else {
    std::string tmpl = "/tmp/postern-demo.XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw StepFailure("cannot create a temp dir in /tmp");
    dir_ = tmpl;
    remove_dir_ = true;
    fs::permissions(dir_, fs::perms(0755));  // the daemons drop to nobody and must reach their files
  }
  require_searchable(dir_);
  write_state();
}

void Demo::write_state() const {
  write_file(Stage::state_file,
             "workdir=" + dir_.string() + "\nremove_workdir=" + (remove_dir_ ? "1" : "0") + "\n", fs::perms(0644));
}

// Runs `postern ...` (this binary) and fails the step with its own words.
void run_self(const std::vector<std::string>& argv, const std::string& input, const std::string& what) {
  RunResult r = run(argv, input, seconds(20));
  check_interrupt();
  if (r.status != 0) throw StepFailure(what + " failed: " + r.output);
}

Details Demo::make_pki() {
  password_ = random_hex(12);
  marker_ = "POSTERN-DEMO-MARKER-" + random_hex(8);
  fs::path pki = dir_ / "pki";
  // The server certificate names the tunnel endpoint (tunnel TLS) and the tunnel address (SMTP TLS).
  run_self({self_, "pki", "init", pki.string(), "--server-name", Stage::site_ip, "--ip", Stage::site_tunnel_ip},
           {}, "postern pki init");
  // The laptop's certificate names the same person as the password user (one identity: the
  // tunnel user is the mail user, and an AUTH over the tunnel must name it).
  run_self({self_, "pki", "issue", pki.string(), Stage::user}, {}, "postern pki issue");
  fs::permissions(pki, fs::perms(0755));
  const fs::path users = dir_ / "users";
  run_self({self_, "user", "add", "--cost", "12", users.string(), Stage::user}, password_ + "\n",
           "postern user add");
  // The site daemon runs as nobody and re-reads the users file at SIGHUP (it refuses to start
  // when it could not): root:<nobody's group> 0640, as `user add` keeps it from then on.
  if (const passwd* pw = ::getpwnam("nobody"); pw == nullptr || ::chown(users.c_str(), static_cast<uid_t>(-1), pw->pw_gid) != 0) {
    throw StepFailure("cannot give " + users.string() + " to the group of user nobody");
  }
  write_file(dir_ / "demo-password", password_ + "\n", fs::perms(0600));
  write_server_config(dir_);
  write_client_config(dir_);
  return {"in " + dir_.string() + ": pki/ (CA, server 10.99.0.2 + 10.77.0.1, user " +
          std::string(Stage::user) + "), users, site.toml, laptop.toml"};
}

void Demo::wait_until(seconds limit, const std::string& what, const std::function<bool()>& done, pid_t daemon,
                      const fs::path& log) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (!process_alive(daemon)) throw StepFailure("the daemon exited while waiting for " + what, log);
    if (std::chrono::steady_clock::now() >= deadline) {
      throw StepFailure("timed out after " + std::to_string(limit.count()) + "s waiting for " + what, log);
    }
    if (!sleep_for(milliseconds(100))) throw Interrupted{};
  }
}

Details Demo::start_server() {
  fs::path log = dir_ / "server.log";
  server_pid_ = spawn_detached(in_namespace(Stage::site_ns, {self_, "server", "-c", (dir_ / "site.toml").string()}), log);
  write_state();
  wait_until(seconds(10), "SMTP listeners on 10.77.0.1:25, 587 and 465", [this] {
    return tcp_listening(server_pid_, Stage::site_tunnel_ip, 25) &&
           tcp_listening(server_pid_, Stage::site_tunnel_ip, 587) &&
           tcp_listening(server_pid_, Stage::site_tunnel_ip, 465);
  }, server_pid_, log);
  return {"pid " + std::to_string(server_pid_) + ", tunnel on 10.99.0.2:1723 (TLS 1.3 TCP + GRE-in-UDP), " +
              "SMTP on 10.77.0.1: 25 and 587 STARTTLS, 465 TLS",
          "log " + log.string()};
}

Details Demo::start_client() {
  fs::path log = dir_ / "client.log";
  client_pid_ =
      spawn_detached(in_namespace(Stage::laptop_ns, {self_, "client", "-c", (dir_ / "laptop.toml").string()}), log);
  std::optional<std::string> address;
  wait_until(seconds(15), std::string("an address on the laptop's ") + Stage::tun_name, [&] {
    address = interface_ipv4(Stage::laptop_ns, Stage::tun_name);
    return address.has_value();
  }, client_pid_, log);
  return {"pid " + std::to_string(client_pid_) + ", the laptop got " + *address + " on " + Stage::tun_name,
          "log " + log.string()};
}

Details Demo::start_capture() {
  capture_.start(Stage::site_ns, Stage::site_veth, dir_ / "wire.pcap");
  return {"pid " + std::to_string(capture_.pid()) + " -> " + (dir_ / "wire.pcap").string()};
}

std::string Demo::send_one(int port, bool implicit_tls, const std::string& label) {
  std::vector<std::string> argv{self_, "send", "--server", std::string(Stage::site_tunnel_ip) + ":" + std::to_string(port),
                                implicit_tls ? "--tls" : "--starttls", "--ca", (dir_ / "pki" / "ca.pem").string(),
                                "--auth", Stage::user, "--from", std::string("Demo <") + Stage::mail_address + ">",
                                "--to", Stage::mail_address, "--subject", "postern demo: " + label,
                                "--ehlo", "laptop.site.test", "--timeout", "10"};
  std::string input = password_ + "\nHello from the laptop, sent with " + label + ".\n" +
                      "This line must never be seen on the wire: " + marker_ + "\n";
  RunResult r = demo::run(in_namespace(Stage::laptop_ns, argv), input, seconds(30));
  check_interrupt();
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  if (r.status != 0) throw StepFailure(label + ": " + r.output, dir_ / "server.log");
  return label + ": " + r.output;
}

Details Demo::send_messages() {
  return {send_one(587, false, "STARTTLS on 587"), send_one(465, true, "implicit TLS on 465")};
}

Details Demo::show_mail() {
  fs::path maildir = dir_ / "maildir";
  std::vector<fs::path> files;
  wait_until(seconds(10), "two files in " + maildir.string() + "/*/new", [&] {
    files = delivered_messages(maildir);
    return files.size() >= 2;
  }, server_pid_, dir_ / "server.log");
  Details out;
  for (const auto& file : files) {
    out.push_back(file.string());
    for (const auto& line : message_summary(file)) out.push_back("  | " + line.substr(0, 100));
    if (!file_contains(file, marker_)) throw StepFailure(file.string() + " lacks the body's marker " + marker_);
    out.push_back("  | ... (the body carries the marker " + marker_ + ")");
  }
  return out;
}

Details Demo::check_capture() {
  capture_.stop();
  // Label -> needle; the password is shown by name only.
  std::vector<std::pair<std::string, std::string>> needles{
      {"EHLO", "EHLO"}, {"MAIL FROM", "MAIL FROM"}, {"RCPT TO", "RCPT TO"}, {"DATA", "DATA"},
      {"STARTTLS", "STARTTLS"}, {"AUTH", "AUTH"}, {"the body's marker", marker_}, {"the password", password_}};
  std::vector<std::string> strings;
  for (const auto& n : needles) strings.push_back(n.second);
  CaptureReport r = analyze_capture(dir_ / "wire.pcap", Stage::tunnel_port, strings);
  std::string counts = std::to_string(r.packets) + " packets: " + std::to_string(r.gre_in_udp) +
                       " GRE-in-UDP (data channel), " + std::to_string(r.tls_tcp) + " TCP/TLS (control channel), " +
                       std::to_string(r.housekeeping) + " ARP/ICMP/IPv6-ND, " + std::to_string(r.other) + " other";
  std::vector<std::string> problems;
  for (const auto& leak : r.leaks) {
    for (const auto& n : needles) {
      if (n.second == leak.needle) {
        problems.push_back(n.first + " in " + std::to_string(leak.count) + " packet(s), first #" +
                           std::to_string(leak.first_packet));
      }
    }
  }
  if (r.other > 0) problems.push_back("traffic outside the tunnel: " + join(r.other_examples, "; "));
  if (r.gre_in_udp == 0) problems.push_back("no GRE-in-UDP datagram at all: the mail did not go through the tunnel");
  if (!problems.empty()) throw StepFailure(counts + "; " + join(problems, "; "));
  std::vector<std::string> labels;
  for (const auto& n : needles) labels.push_back(n.first);
  return {counts, "searched every frame's bytes for " + join(labels, ", ") + ": none found"};
}

Details Demo::clean_up() {
  std::vector<std::string> errors;
  try {
    capture_.stop();
  } catch (const std::exception&) {
    // The capture was only a witness; its exit status does not matter any more.
  }
  if (client_pid_ > 0) stop_process(client_pid_, seconds(3));
  if (server_pid_ > 0) stop_process(server_pid_, seconds(3));
  if (own_namespaces_) {
    for (const char* ns : {Stage::laptop_ns, Stage::site_ns}) {
      try {
        delete_namespace(ns);
      } catch (const std::exception& e) {
        errors.push_back(e.what());
      }
    }
  }
  std::error_code ec;
  if (remove_dir_ && !dir_.empty()) fs::remove_all(dir_, ec);
  if (ec) errors.push_back("cannot remove " + dir_.string() + ": " + ec.message());
  fs::remove(Stage::state_file, ec);
  if (!errors.empty()) throw StepFailure(join(errors, "; "));
  if (!remove_dir_ && !dir_.empty()) return {"kept " + dir_.string() + " (--workdir)"};
  return {};
}

void Demo::print_keep_help() const {
  const char* d = dir_.c_str();
  const char* bin = self_.c_str();
  std::printf("\nThe demo is still running. Try:\n");
  std::printf("  (cat %s/demo-password; echo hello) | ip netns exec %s %s send --server 10.77.0.1:587 \\\n"
              "      --ca %s/pki/ca.pem --auth demo --from demo@site.test --to demo@site.test --subject hi\n",
              d, Stage::laptop_ns, bin, d);
  std::printf("  ip netns exec %s ping -c 2 10.77.0.1  # through the tunnel\n", Stage::laptop_ns);
  std::printf("  ls %s/maildir/*/new  # delivered mail\n", d);
  std::printf("  %s capture --read %s/wire.pcap  # the wire during the demo\n", bin, d);
  std::printf("  logs: %s/server.log %s/client.log\n", d, d);
  std::printf("Stop everything (daemons, namespaces, files) with:  %s demo --stop\n", bin);
}

}  // namespace

int run_demo(const DemoOptions& options) {
  Demo demo(options);
  return demo.run();
}

int stop_demo() {
  std::string workdir;
  bool remove = false;
  std::ifstream state(Stage::state_file);
  for (std::string line; std::getline(state, line);) {
    if (line.rfind("workdir=", 0) == 0) workdir = line.substr(8);
    if (line == "remove_workdir=1") remove = true;
  }
  bool found = false;
  for (const char* ns : {Stage::laptop_ns, Stage::site_ns}) {
    if (!namespace_exists(ns)) continue;
    found = true;
    std::printf("stopping the processes in %s and deleting it ... ", ns);
    std::fflush(stdout);
    delete_namespace(ns);
    std::printf("ok\n");
  }
  // Only ever a folder this command made itself (mkdtemp name), whatever the state file says.
  if (remove && workdir.rfind("/tmp/postern-demo.", 0) == 0 && fs::exists(workdir)) {
    found = true;
    std::error_code ec;
    fs::remove_all(workdir, ec);
    std::printf("removing %s ... %s\n", workdir.c_str(), ec ? ec.message().c_str() : "ok");
  } else if (!workdir.empty() && fs::exists(workdir)) {
    std::printf("kept %s (given with --workdir)\n", workdir.c_str());
  }
  std::error_code ec;
  fs::remove(Stage::state_file, ec);
  if (!found) std::printf("postern demo: nothing to stop (no namespace %s or %s)\n", Stage::laptop_ns, Stage::site_ns);
  return 0;
}

}  // namespace postern::cli::demo
