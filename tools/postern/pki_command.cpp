// `postern pki init DIR --server-name NAME...`, `pki issue DIR NAME`, `pki revoke DIR NAME`,
// `pki renew DIR NAME` and `pki crl DIR`: a small EC P-256 PKI for a site (see auth/pki.hpp).
// `pki issue --email ADDRESS` makes the certificate an S/MIME one too and writes DIR/NAME.p12 for
// mail clients, under a password read as `user add` reads one (tools/postern/password_prompt.hpp).
// Prints what it wrote and the SHA-256 fingerprint of each certificate, ready for a client's
// server_fingerprint; revoke prints the serial it added to DIR/crl.pem; renew and crl print the
// new expiry and what to do next (restart, SIGHUP, a changed fingerprint). Errors: exit 1 with
// the message (main.cpp turns exceptions into that).
#include "tools/postern/command.hpp"
#include "tools/postern/password_prompt.hpp"
#include "auth/cert_checks.hpp"
#include "auth/pki.hpp"

#include <cstdio>

namespace postern::cli {
namespace {

namespace auth = postern::auth;

void print_written(const std::filesystem::path& dir, const std::string& name) {
  auto cert = auth::read_certificate_pem(dir / (name + ".pem"));
  std::printf("wrote %s (SHA-256 %s)\n", (dir / (name + ".pem")).c_str(), auth::fingerprint(cert.get()).c_str());
  std::printf("wrote %s (mode 0600)\n", (dir / (name + ".key")).c_str());
}

void add_init(CLI::App& pki) {
  struct Args {
    std::string dir;
    std::vector<std::string> names;
    std::vector<std::string> ips;
    auth::PkiInitOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* init = pki.add_subcommand("init", "Create DIR/ca.pem, ca.key, server.pem, server.key");
  init->add_option("dir", args->dir, "Directory for the files (created if missing)")->required();
  init->add_option("--server-name", args->names, "Server DNS name or IP (repeatable; the first is the CN)")
      ->required();
  init->add_option("--ip", args->ips, "Extra server IP address for subjectAltName (repeatable)");
  init->add_option("--days", args->options.days, "Server certificate lifetime in days")->capture_default_str();
  init->add_option("--ca-days", args->options.ca_days, "CA certificate lifetime in days")->capture_default_str();
  init->add_option("--ca-name", args->options.ca_name, "CA common name")->capture_default_str();
  init->add_flag("--force", args->options.force, "Overwrite existing files");
  init->callback([args] {
    args->options.server_names = args->names;
    args->options.server_names.insert(args->options.server_names.end(), args->ips.begin(), args->ips.end());
    auth::pki_init(args->dir, args->options);
    print_written(args->dir, "ca");
    print_written(args->dir, "server");
  });
}

void add_issue(CLI::App& pki) {
  struct Args {
    std::string dir;
    std::string name;
    std::vector<std::string> names;
    std::vector<std::string> ips;
    std::string key_type = "ec";
    bool no_p12 = false;
    auth::PkiIssueOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* issue = pki.add_subcommand("issue", "Create DIR/NAME.pem and NAME.key signed by DIR/ca.*");
  issue->add_option("dir", args->dir, "Directory holding ca.pem and ca.key")->required();
  issue->add_option("name", args->name, "Certificate name (CN and file name), e.g. a user or laptop")->required();
  issue->add_option("--days", args->options.days, "Lifetime in days")->capture_default_str();
  issue->add_flag("--server", args->options.server, "Issue a server certificate (serverAuth) instead of a client one");
  issue->add_option("--server-name", args->names, "subjectAltName DNS name or IP (repeatable)");
  issue->add_option("--ip", args->ips, "subjectAltName IP address (repeatable)");
  auto* email = issue->add_option("--email", args->options.email,
                                  "S/MIME: this mail address as subjectAltName, emailProtection; writes NAME.p12");
  issue->add_option("--key-type", args->key_type, "ec (P-256) or rsa (3072; for mail clients without EC S/MIME)")
      ->check(CLI::IsMember({"ec", "rsa"}))
      ->capture_default_str();
  issue->add_flag("--no-p12", args->no_p12, "With --email: write no NAME.p12 (and ask no password)")->needs(email);
  issue->add_flag("--force", args->options.force, "Overwrite existing files");
  issue->callback([args] {
    args->options.alt_names = args->names;
    args->options.alt_names.insert(args->options.alt_names.end(), args->ips.begin(), args->ips.end());
    args->options.key_type = args->key_type == "rsa" ? auth::KeyType::rsa_3072 : auth::KeyType::ec_p256;
    SecretBytes password;
    if (!args->options.email.empty() && !args->no_p12) {
      password = read_new_password("Password for " + args->name + ".p12");
      args->options.p12_password = &password;
    }
    auth::pki_issue(args->dir, args->name, args->options);
    print_written(args->dir, args->name);
    if (args->options.p12_password != nullptr) {
      const auto p12 = std::filesystem::path(args->dir) / (args->name + ".p12");
      std::printf("wrote %s (mode 0600): key, certificate and CA for %s's mail client\n", p12.c_str(),
                  args->options.email.c_str());
    }
  });
}

void add_revoke(CLI::App& pki) {
  struct Args {
    std::string dir;
    std::string name;
    auth::PkiRevokeOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* revoke = pki.add_subcommand(
      "revoke", "Add DIR/NAME.pem to DIR/crl.pem (created if missing), signed by DIR/ca.*");
  revoke->add_option("dir", args->dir, "Directory holding ca.pem, ca.key and NAME.pem")->required();
  revoke->add_option("name", args->name, "Certificate name given to `pki issue`")->required();
  revoke->add_option("--days", args->options.days, "Days until the CRL's nextUpdate (re-sign before then)")
      ->capture_default_str();
  revoke->callback([args] {
    const auto result = auth::pki_revoke(args->dir, args->name, args->options);
    const auto crl = std::filesystem::path(args->dir) / "crl.pem";
    std::printf("%s %s (serial %s); wrote %s (%zu revoked)\n",
                result.already_revoked ? "already revoked:" : "revoked", args->name.c_str(),
                result.serial.c_str(), crl.c_str(), result.revoked_count);
    std::printf("servers with crl = \"%s\" read it on start and on SIGHUP\n", crl.c_str());
  });
}

void add_renew(CLI::App& pki) {
  struct Args {
    std::string dir;
    std::string name;
    auth::PkiRenewOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* renew = pki.add_subcommand(
      "renew", "Replace DIR/NAME.pem by a new certificate (same subject, names and usage) signed by DIR/ca.*");
  renew->add_option("dir", args->dir, "Directory holding ca.pem, ca.key, NAME.pem and NAME.key")->required();
  renew->add_option("name", args->name, "Certificate name given to `pki issue`, `server`, or `ca`")->required();
  renew->add_option("--days", args->options.days, "Lifetime in days (default: that of the current certificate)");
  renew->add_flag("--new-key", args->options.new_key, "Generate a new key (replaces NAME.key; not for ca)");
  renew->callback([args] {
    const auto r = auth::pki_renew(args->dir, args->name, args->options);
    const std::filesystem::path dir = args->dir;
    std::printf("wrote %s (SHA-256 %s), valid %d days, until %s\n", (dir / (args->name + ".pem")).c_str(),
                r.new_fingerprint.c_str(), r.days, r.not_after.c_str());
    std::printf(r.new_key ? "wrote %s (new key, mode 0600 or the old file's)\n" : "kept %s (same key)\n",
                (dir / (args->name + ".key")).c_str());
    std::printf("the fingerprint is of the certificate, so it changed (was %s)\n", r.old_fingerprint.c_str());
    if (r.ca) {
      std::printf("next: give the new ca.pem to every client (ca =) and server (client_ca =), then restart them;\n"
                  "certificates issued by the old ca.pem still verify against it (same name and key)\n");
    } else if (r.server) {
      std::printf("next: restart the server (it reads its certificate at start); clients that pin\n"
                  "server_fingerprint must be given the new fingerprint above, clients with ca = need nothing\n");
    } else {
      std::printf("next: install the new %s.pem%s on the client and restart `postern client`\n", args->name.c_str(),
                  r.new_key ? " and .key" : "");
    }
  });
}

void add_crl(CLI::App& pki) {
  struct Args {
    std::string dir;
    auth::PkiCrlOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* crl = pki.add_subcommand(
      "crl", "Re-sign DIR/crl.pem (same entries, fresh nextUpdate), or create an empty one");
  crl->add_option("dir", args->dir, "Directory holding ca.pem and ca.key")->required();
  crl->add_option("--days", args->options.days, "Days until the CRL's nextUpdate (re-sign before then)")
      ->capture_default_str();
  crl->callback([args] {
    const auto r = auth::pki_crl(args->dir, args->options);
    const auto path = std::filesystem::path(args->dir) / "crl.pem";
    std::printf("%s %s (%zu revoked), nextUpdate %s\n", r.created ? "created" : "re-signed", path.c_str(),
                r.revoked_count, r.next_update.c_str());
    std::printf("next: send SIGHUP to servers with crl = \"%s\" (systemctl reload postern-server);\n"
                "run this again before %s, after that every client certificate is refused\n",
                path.c_str(), r.next_update.c_str());
  });
}

POSTERN_REGISTER_COMMAND(50, [](CLI::App& app) {
  CLI::App* pki = app.add_subcommand("pki", "Create a CA and server/client certificates (EC P-256), revoke them");
  pki->require_subcommand(1);
  add_init(*pki);
  add_issue(*pki);
  add_revoke(*pki);
  add_renew(*pki);
  add_crl(*pki);
});

}  // namespace
}  // namespace postern::cli
