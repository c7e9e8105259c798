// `postern smime open FILE`: the receiving side of S/MIME for users, admins and scripts. Reads a
// message (a Maildir file as the server delivered it, or stdin with "-"), decrypts it with the
// reader's certificate and key (PEM, or a .p12 whose password is read as every postern password
// is, tools/postern/password_prompt.hpp), verifies every signature against the site CA (--ca, or
// the CA named by a postern client's or server's config, -c), and prints one "key: value" line
// per finding: the layers, the content cipher, who signed (subject, mail addresses, issuer),
// whether the signature is intact and trusted, whether From is the signer's, and the result.
// One command rather than `verify` and `decrypt`: a signed-then-encrypted message needs both,
// in that order, and the reader should not have to know which layers a message has.
// Exit statuses (docs/smime.md) are distinct per verdict so scripts can act on them; --out
// writes the opened message only when the verdict is ok. The opening itself is smime/smime_open.
#include "tools/postern/command.hpp"
#include "tools/postern/password_prompt.hpp"
#include "tools/postern/smime/smime_open.hpp"

#include "auth/pki.hpp"
#include "common/config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace postern::tools::smime {
namespace {

// 1 (an error: unreadable file, bad CA file, wrong .p12 password) and 2 (usage) are every
// postern command's; these are the verdicts'.
enum ExitStatus : int {
  kExitOk = 0,
  kExitBadSignature = 3,
  kExitUntrustedSigner = 4,
  kExitFromMismatch = 5,
  kExitCannotDecrypt = 6,
  kExitNotSmime = 7,
  kExitNotSigned = 8,  // with --require-signed: opened, but nobody signed it
};

int exit_status(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return kExitOk;
    case Verdict::bad_signature: return kExitBadSignature;
    case Verdict::untrusted_signer: return kExitUntrustedSigner;
    case Verdict::from_mismatch: return kExitFromMismatch;
    case Verdict::cannot_decrypt: return kExitCannotDecrypt;
    case Verdict::not_smime: return kExitNotSmime;
  }
  return 1;
}

struct OpenArgs {
  std::string file;
  std::string ca;
  std::string config;
  std::string cert;
  std::string key;
  std::string p12;
  std::string out;
  bool require_signed = false;
};

std::string read_all(std::FILE* in) {
  std::string out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), in)) > 0;) out.append(buf, n);
  return out;
}

std::string read_file(const std::string& path) {
  if (path == "-") return read_all(stdin);
  std::unique_ptr<std::FILE, decltype(&std::fclose)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) throw SmimeError("cannot read " + path + ": " + std::strerror(errno));
  return read_all(in.get());
}

// The trust anchors: --ca, or the CA a postern config already names ([tunnel] ca on a client,
// client_ca on a server: the site CA that issued the users' certificates).
std::string ca_path(const OpenArgs& a) {
  if (!a.ca.empty()) return a.ca;
  const config::Config cfg = config::load_config(a.config);
  if (cfg.client && cfg.client->ca) return cfg.client->ca->string();
  if (cfg.server && cfg.server->client_ca) return cfg.server->client_ca->string();
  throw SmimeError(a.config + " names no CA ([tunnel] ca on a client, client_ca on a server); give --ca FILE");
}

// The reader's certificate and key, from PEM files or a .p12; none when neither is given.
Credentials reader_credentials(const OpenArgs& a) {
  if (!a.p12.empty()) {
    // Read the bundle before the password: a missing file should not cost a prompt.
    const std::string der = read_file(a.p12);
    const SecretBytes password = cli::read_password("Password for " + a.p12);
    return credentials_from_pkcs12(der, password);
  }
  Credentials c;
  if (a.cert.empty()) return c;
  c.cert = auth::read_certificate_pem(a.cert);
  c.key = auth::read_private_key_pem(a.key);
  if (X509_check_private_key(c.cert.get(), c.key.get()) != 1) {
    openssl_errors();
    throw SmimeError(a.key + " is not the key of " + a.cert);
  }
  return c;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

void print_report(const OpenedMessage& m, const Credentials& reader, const std::string& ca) {
  std::vector<std::string> layers;
  for (Layer l : m.layers) layers.emplace_back(to_string(l));
  std::printf("layers: %s\n", layers.empty() ? "none" : join(layers, ", ").c_str());
  if (m.is_encrypted()) {
    const std::string cipher = m.content_cipher.empty() ? "unknown" : m.content_cipher;
    if (m.decrypted) {
      SignerReport who = report_of_certificate(reader.cert.get());
      std::printf("encryption: %s, decrypted for %s\n", cipher.c_str(), who.subject.c_str());
    } else {
      std::printf("encryption: %s, not decrypted\n", cipher.c_str());
    }
  }
  for (const auto& s : m.signers) {
    std::printf("signer: %s <%s> issued by %s\n", s.subject.c_str(), join(s.emails, ", ").c_str(), s.issuer.c_str());
  }
  if (m.is_signed()) {
    std::printf("signature: %s\n", !m.signature_intact ? "BROKEN (the content was altered after signing)"
                                   : !m.signature_ok   ? "intact, signer NOT trusted"
                                                       : ("intact, signer trusted by " + ca).c_str());
    std::printf("from: %s (%s)\n", m.from.empty() ? "(none)" : m.from.c_str(),
                m.from_matches ? "in the signer's certificate" : "NOT in the signer's certificate");
  } else if (!m.layers.empty()) {
    std::printf("signature: none (not signed)\n");
  }
}

void write_out(const std::string& path, const std::string& text) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!out || std::fwrite(text.data(), 1, text.size(), out.get()) != text.size() || std::fflush(out.get()) != 0)
    throw SmimeError("cannot write " + path + ": " + std::strerror(errno));
}

int run_open(const OpenArgs& a) {
  const std::string ca = ca_path(a);
  X509StorePtr trust = trust_store_from_pem(read_file(ca));
  const Credentials reader = reader_credentials(a);
  const std::string message = read_file(a.file);
  const OpenedMessage m = open_message(message, {trust.get(), reader.cert.get(), reader.key.get()});
  print_report(m, reader, ca);
  int status = exit_status(m.verdict);
  if (status == kExitOk && a.require_signed && !m.is_signed()) status = kExitNotSigned;
  if (status != kExitOk) {
    std::printf("result: %s\n", status == kExitNotSigned ? "not signed (--require-signed)" : m.reason.c_str());
    return status;
  }
  std::printf("result: ok\n");
  if (!a.out.empty()) {
    write_out(a.out, reassemble(message, m.content));
    std::printf("wrote %s\n", a.out.c_str());
  }
  return status;
}

POSTERN_REGISTER_COMMAND(65, [](CLI::App& app) {
  CLI::App* smime = app.add_subcommand("smime", "Open received S/MIME mail: decrypt, verify the signer, print who");
  smime->require_subcommand(1);
  auto args = std::make_shared<OpenArgs>();
  CLI::App* open = smime->add_subcommand(
      "open", "Decrypt and/or verify a message (a Maildir file, or - for stdin); exit 0 only when it all holds");
  open->add_option("file", args->file, "The message: a Maildir file as delivered, or - for stdin")->required();
  auto* ca = open->add_option("--ca", args->ca, "CA certificate(s) (PEM) the signer must chain to")
                 ->check(CLI::ExistingFile);
  auto* config_file = open->add_option("-c,--config", args->config,
                                  "Take the CA from this postern config ([tunnel] ca, or a server's client_ca)")
                     ->check(CLI::ExistingFile);
  ca->excludes(config_file);
  auto* cert = open->add_option("--cert", args->cert, "Your certificate (PEM), to decrypt")->check(CLI::ExistingFile);
  auto* key = open->add_option("--key", args->key, "Its private key (PEM)")->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  auto* p12 = open->add_option("--p12", args->p12, "Your .p12 (from pki issue --email) instead of --cert/--key; "
                                                   "password: first line of stdin, or prompted")
                  ->check(CLI::ExistingFile);
  p12->excludes(cert);
  p12->excludes(key);
  open->add_option("--out", args->out, "Write the opened message (outer headers + inner entity) here when ok");
  open->add_flag("--require-signed", args->require_signed, "Exit 8 when the message opened but is not signed");
  open->callback([args] {
    if (args->ca.empty() && args->config.empty())
      throw CLI::ValidationError("smime open", "give --ca FILE or -c CONFIG: the CA the signer must chain to");
    cli::set_exit_status(run_open(*args));
  });
});

}  // namespace
}  // namespace postern::tools::smime
