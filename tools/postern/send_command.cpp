// `postern send`: submit one message to an SMTP submission server, for users and scripts (in the
// spirit of swaks). Reads the password from stdin when it is not a terminal, else prompts without
// echo (tools/postern/password_prompt.hpp); the body comes from --body FILE or stdin. With --sign
// and/or --encrypt-to the content (text and attachments) is S/MIME-protected (smime/), signed by
// --smime-cert/--smime-key and encrypted to each --encrypt-to certificate and to --smime-cert, so
// the sender can read the copy --save keeps. Prints "queued as <id>" and exits 0 when the
// server accepted the message; otherwise prints one sentence saying what went wrong and what to
// do about it, and exits 1. The dialogue itself lives in send/smtp_client.cpp.
#include "common/secret.hpp"
#include "tools/postern/command.hpp"
#include "tools/postern/password_prompt.hpp"
#include "tools/postern/send/message.hpp"
#include "tools/postern/send/smtp_client.hpp"
#include "tools/postern/smime/smime_compose.hpp"
#include "auth/pki.hpp"

#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

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
  bool sign = false;
  std::vector<std::string> encrypt_to;
  std::string smime_cert;
  std::string smime_key;
  std::string cipher = "auto";
  std::string save;
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

// The certificates and key the S/MIME flags name, loaded and checked before any connection.
struct SmimeMaterial {
  auth::X509Ptr cert;  // the sender's (--smime-cert)
  auth::EvpPkeyPtr key;
  std::vector<auth::X509Ptr> recipients;
  bool sign = false;
  smime::ContentCipher cipher = smime::ContentCipher::aes_256_gcm;
};

std::optional<SmimeMaterial> load_smime(const SendArgs& a) {
  const bool encrypt = !a.encrypt_to.empty();
  if (!a.sign && !encrypt) {
    if (!a.smime_cert.empty() || !a.smime_key.empty() || a.cipher != "auto")
      throw SendError("--smime-cert, --smime-key and --cipher need --sign or --encrypt-to");
    return std::nullopt;
  }
  if (a.smime_cert.empty())
    throw SendError(a.sign ? "--sign needs --smime-cert and --smime-key (your S/MIME certificate and key)"
                           : "--encrypt-to needs --smime-cert (your own certificate, so you can read your sent copy)");
  if (a.sign && a.smime_key.empty()) throw SendError("--sign needs --smime-key (the key of --smime-cert)");
  SmimeMaterial m;
  m.sign = a.sign;
  m.cert = auth::read_certificate_pem(a.smime_cert);
  const std::string from = address_of(a.from);
  // RFC 8550 3: a reader checks that From is in the signer's certificate; fail here, not there.
  if (X509_check_email(m.cert.get(), from.c_str(), from.size(), 0) != 1)
    throw SendError(fmt::format("{} does not name the From address {}", a.smime_cert, from));
  if (a.sign) {
    m.key = auth::read_private_key_pem(a.smime_key);
    if (X509_check_private_key(m.cert.get(), m.key.get()) != 1)
      throw SendError(fmt::format("{} is not the key of {}", a.smime_key, a.smime_cert));
  }
  for (const auto& path : a.encrypt_to) m.recipients.push_back(auth::read_certificate_pem(path));
  if (encrypt) {
    X509_up_ref(m.cert.get());
    m.recipients.emplace_back(m.cert.get());  // the sender's own copy
  }
  std::vector<X509*> raw;
  for (const auto& r : m.recipients) raw.push_back(r.get());
  m.cipher = a.cipher == "aes-256-cbc"   ? smime::ContentCipher::aes_256_cbc
             : a.cipher == "aes-256-gcm" ? smime::ContentCipher::aes_256_gcm
                                         : smime::choose_cipher(raw);
  return m;
}

// The message as submitted: plain, or its content entity S/MIME-protected (7-bit: RFC 8551 3.1.2).
BuiltMessage make_message(MessageSpec spec, const SmimeMaterial* smime_material) {
  if (smime_material == nullptr) return build_message(spec);
  spec.server_has_8bitmime = false;
  smime::ProtectOptions o;
  if (smime_material->sign) {
    o.sign_cert = smime_material->cert.get();
    o.sign_key = smime_material->key.get();
  }
  for (const auto& r : smime_material->recipients) o.recipients.push_back(r.get());
  o.cipher = smime_material->cipher;
  o.boundary_token = spec.message_id_token;
  BuiltMessage built;
  built.text = build_headers(spec) + smime::protect_entity(build_content(spec).text, o);
  return built;
}

void save_copy(const std::string& path, const std::string& text) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!out || std::fwrite(text.data(), 1, text.size(), out.get()) != text.size() || std::fflush(out.get()) != 0)
    throw SendError(fmt::format("the message was queued, but {} could not be written: {}", path, std::strerror(errno)));
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
  o.endpoint = parse_server(a.server, a.tls ? 465 : 587);
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
  std::optional<SmimeMaterial> smime_material = load_smime(a);
  SecretBytes password;
  if (options.user) {
    password = cli::read_password("Password for " + *options.user);
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
  std::string sent;
  SubmitResult result = submit(options, envelope, [&](const Capabilities& caps) {
    spec.server_has_8bitmime = caps.eightbitmime;
    BuiltMessage built = make_message(spec, smime_material ? &*smime_material : nullptr);
    sent = built.text;
    return built;
  });
  std::printf("queued as %s\n", result.queue_id.c_str());
  if (!a.save.empty()) save_copy(a.save, sent);
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
  cmd->add_flag("--sign", args->sign, "S/MIME-sign (multipart/signed, SHA-256) with --smime-cert and --smime-key");
  cmd->add_option("--encrypt-to", args->encrypt_to,
                  "S/MIME-encrypt to this recipient certificate (PEM; repeatable); --smime-cert is added")
      ->check(CLI::ExistingFile);
  cmd->add_option("--smime-cert", args->smime_cert, "your S/MIME certificate (PEM, naming the --from address)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--smime-key", args->smime_key, "its private key (PEM), for --sign")->check(CLI::ExistingFile);
  cmd->add_option("--cipher", args->cipher, "content encryption: auto (AES-256-GCM where possible), aes-256-gcm, aes-256-cbc")
      ->check(CLI::IsMember({"auto", "aes-256-gcm", "aes-256-cbc"}))
      ->capture_default_str();
  cmd->add_option("--save", args->save, "write the message as submitted to FILE once the server accepted it");
  cmd->callback([args] { cli::set_exit_status(run_send(*args)); });
}

}  // namespace
}  // namespace postern::tools::send

POSTERN_REGISTER_COMMAND(60, postern::tools::send::register_send);
