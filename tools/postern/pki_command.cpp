// `postern pki init DIR --server-name NAME...`, `postern pki issue DIR NAME` and
// `postern pki revoke DIR NAME`: a small EC P-256 PKI for a site (see tunnel/auth/pki.hpp).
// Prints what it wrote and the SHA-256 fingerprint of each certificate, ready for a client's
// server_fingerprint; revoke prints the serial it added to DIR/crl.pem.
#include "tools/postern/command.hpp"
#include "tunnel/auth/cert_checks.hpp"
#include "tunnel/auth/pki.hpp"

#include <cstdio>

namespace postern::cli {
namespace {

namespace auth = postern::tunnel::auth;

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
  issue->add_flag("--force", args->options.force, "Overwrite existing files");
  issue->callback([args] {
    args->options.alt_names = args->names;
    args->options.alt_names.insert(args->options.alt_names.end(), args->ips.begin(), args->ips.end());
    auth::pki_issue(args->dir, args->name, args->options);
    print_written(args->dir, args->name);
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

POSTERN_REGISTER_COMMAND(50, [](CLI::App& app) {
  CLI::App* pki = app.add_subcommand("pki", "Create a CA and server/client certificates (EC P-256), revoke them");
  pki->require_subcommand(1);
  add_init(*pki);
  add_issue(*pki);
  add_revoke(*pki);
});

}  // namespace
}  // namespace postern::cli
