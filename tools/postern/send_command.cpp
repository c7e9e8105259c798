// `postern send`: submit one message to an SMTP submission server, for users and scripts (in the
// spirit of swaks). Reads the password from stdin when it is not a terminal, else prompts without
// echo; the body comes from --body FILE or stdin. Prints "queued as <id>" and exits 0 when the
// server accepted the message; otherwise prints one sentence saying what went wrong and what to
// do about it, and exits 1. The dialogue itself lives in send/smtp_client.cpp.
#include "common/secret.hpp"
#include "tools/postern/command.hpp"
#include "tools/postern/send/message.hpp"
#include "tools/postern/send/smtp_client.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace postern::tools::send {
namespace {

struct SendArgs {
  std::string server;
  bool tls = false;
  bool starttls = false;
  std::string user;
  std::string ca_file;
  bool insecure = false;
  std::string from;
  std::vector<std::string> to;
  std::string subject;
  std::string body_file;
  std::vector<std::string> attachments;
  std::string ehlo_name;
  double timeout_seconds = 10;
  bool verbose = false;
};

// C stdio rather than iostreams: GCC 12 -O2 reports false null dereferences in streambuf.
std::string read_stream(std::FILE* in) {
  std::string out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), in)) > 0;) out.append(buf, n);
  return out;
}

std::string read_file(const std::string& path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) throw SendError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  return read_stream(in.get());
}

std::string read_line(std::FILE* in) {
  std::string line;
  for (int c; (c = std::fgetc(in)) != EOF && c != '\n';) line += static_cast<char>(c);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Reads one line from the terminal with echo off (so the password never shows on screen).
SecretBytes prompt_password(const std::string& user) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> tty(std::fopen("/dev/tty", "r+"), &std::fclose);
  if (!tty) throw SendError("no terminal to ask for the password on; pipe it on stdin");
  int fd = fileno(tty.get());
  termios old{};
  tcgetattr(fd, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::fprintf(tty.get(), "Password for %s: ", user.c_str());
  std::fflush(tty.get());
  tcsetattr(fd, TCSAFLUSH, &quiet);
  std::string line = read_line(tty.get());
  tcsetattr(fd, TCSAFLUSH, &old);
  std::fprintf(tty.get(), "\n");
  SecretBytes secret(line);
  OPENSSL_cleanse(line.data(), line.size());
  return secret;
}

// Scripts pipe the password as the first line of stdin (never on the command line, where `ps`
// would show it); the rest of stdin is then the body if --body is not given.
SecretBytes read_password(const std::string& user) {
  if (isatty(STDIN_FILENO)) return prompt_password(user);
  std::string line = read_line(stdin);
  SecretBytes secret(line);
  OPENSSL_cleanse(line.data(), line.size());
  if (secret.empty()) throw SendError("--auth given but stdin held no password line");
  return secret;
}

std::string read_body(const std::string& body_file) {
  if (!body_file.empty() && body_file != "-") return read_file(body_file);
  if (isatty(STDIN_FILENO)) std::fprintf(stderr, "(type the message body, end with Ctrl-D)\n");
  return read_stream(stdin);
}

std::string random_token() {
  unsigned char bytes[10];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw SendError("no randomness for the Message-ID");
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string default_ehlo_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

ClientOptions client_options(const SendArgs& a) {
  ClientOptions o;
  o.mode = a.tls ? TlsMode::implicit : a.starttls ? TlsMode::starttls : TlsMode::auto_;
  // RFC 8314 3.3 / RFC 6409 3.1: SMTPS on 465, submission on 587.
  o.endpoint = parse_endpoint(a.server, a.tls ? 465 : 587);
  o.tls.ca_file = a.ca_file;
  o.tls.insecure = a.insecure;
  o.ehlo_name = a.ehlo_name.empty() ? default_ehlo_name() : a.ehlo_name;
  o.timeout = std::chrono::milliseconds(static_cast<long>(a.timeout_seconds * 1000));
  o.transcript = a.verbose ? stderr : nullptr;
  if (!a.user.empty()) o.user = a.user;
  return o;
}

int run_send(const SendArgs& a) {
  ClientOptions options = client_options(a);
  SecretBytes password;
  if (options.user) {
    password = read_password(*options.user);
    options.password = &password;
  }
  MessageSpec spec;
  spec.from = a.from;
  spec.to = a.to;
  spec.subject = a.subject;
  spec.body = read_body(a.body_file);
  for (const auto& path : a.attachments) {
    std::string name = std::filesystem::path(path).filename().string();
    spec.attachments.push_back({name, content_type_for(name), read_file(path)});
  }
  spec.date = std::chrono::system_clock::now();
  spec.message_id_token = random_token();
  Envelope envelope{address_of(a.from), {}};
  for (const auto& t : a.to) envelope.to.push_back(address_of(t));
  SubmitResult result = submit(options, envelope, [&spec](const Capabilities& caps) {
    spec.server_has_8bitmime = caps.eightbitmime;
    return build_message(spec);
  });
  std::printf("queued as %s\n", result.queue_id.c_str());
  return 0;
}

void register_send(CLI::App& app) {
  auto args = std::make_shared<SendArgs>();
  CLI::App* cmd = app.add_subcommand("send", "Submit a message to an SMTP submission server (like swaks)");
  cmd->add_option("--server", args->server, "HOST[:PORT] (port 587, or 465 with --tls)")->required();
  auto* tls = cmd->add_flag("--tls", args->tls, "implicit TLS from the first byte (SMTPS, usually port 465)");
  auto* starttls = cmd->add_flag("--starttls", args->starttls, "require STARTTLS (default: use it when offered)");
  tls->excludes(starttls);
  cmd->add_option("--auth", args->user, "authenticate as USER (password: first line of stdin, or prompted)");
  cmd->add_option("--ca", args->ca_file, "CA certificate(s) to verify the server with (default: system store)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure", args->insecure, "do NOT verify the server certificate (testing only)");
  cmd->add_option("--from", args->from, "sender, \"Name <addr>\" or addr")->required();
  cmd->add_option("--to", args->to, "recipient (repeatable)")->required();
  cmd->add_option("--subject", args->subject, "subject line");
  cmd->add_option("--body", args->body_file, "file with the body text (default or \"-\": stdin)");
  cmd->add_option("--attach", args->attachments, "attach FILE (repeatable)")->check(CLI::ExistingFile);
  cmd->add_option("--ehlo", args->ehlo_name, "name to give in EHLO (default: this host's name)");
  cmd->add_option("--timeout", args->timeout_seconds, "seconds to wait for each step (default 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("-v,--verbose", args->verbose, "print the dialogue (C:/S:) on stderr");
  cmd->callback([args] { cli::set_exit_status(run_send(*args)); });
}

}  // namespace
}  // namespace postern::tools::send

POSTERN_REGISTER_COMMAND(60, postern::tools::send::register_send);
