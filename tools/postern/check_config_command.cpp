// `postern check-config FILE [--files]`: loads and validates a configuration file and prints
//   site.toml: ok (server with smtp: 3 listeners; metrics on 127.0.0.1:9477)
// or the error ("site.toml:7: [tunnel] pool: ...") and exits 1. With --files it also opens the
// files the configuration names (certificates, keys, users, deny list, CRL, the SMTP sender and
// recipient maps, the relay's CA and password file) so a typo is caught before the daemon starts.
#include "common/config.hpp"
#include "tools/postern/command.hpp"
#include "tunnel/auth/cert_checks.hpp"
#include "tunnel/auth/pki.hpp"
#include "tunnel/auth/users_db.hpp"
#include "smtp/core/recipient_map.hpp"
#include "smtp/core/sender_map.hpp"

#include <grp.h>

#include <cstdio>
#include <string>

namespace postern::cli {
namespace {

namespace auth = postern::tunnel::auth;

std::string summary(const config::Config& c) {
  std::string out = c.server ? "server" : c.client ? "client" : "";
  if (c.smtp) {
    std::string smtp = "smtp: " + std::to_string(c.smtp->listen.size()) +
                       (c.smtp->listen.size() == 1 ? " listener" : " listeners");
    out = out.empty() ? smtp : out + " with " + smtp;
  }
  if (c.daemon.metrics) out += "; metrics on " + c.daemon.metrics->to_string();
  return out;
}

// Runs one file check, prefixing its error with the section and key that named the file.
template <typename Check>
void checked(std::string_view section, std::string_view key, Check check) {
  try {
    check();
  } catch (const std::exception& e) {
    throw std::runtime_error("[" + std::string(section) + "] " + std::string(key) + ": " + e.what());
  }
}

void check_cert_pair(std::string_view section, const std::filesystem::path& cert,
                     const std::filesystem::path& key) {
  checked(section, "certificate/private_key", [&] {
    auto x = auth::read_certificate_pem(cert);
    auto k = auth::read_private_key_pem(key);
    if (X509_check_private_key(x.get(), k.get()) != 1)
      throw std::runtime_error(key.string() + " does not match " + cert.string());
  });
}

void check_files(const config::Config& c) {
  if (const auto& s = c.server) {
    check_cert_pair("tunnel", s->certificate, s->private_key);
    if (s->client_ca) checked("tunnel", "client_ca/crl", [&] { auth::make_verify_store(*s->client_ca, s->crl); });
    if (s->deny_list) checked("tunnel", "deny_list", [&] { auth::DenyList().load(*s->deny_list); });
    if (s->users) checked("tunnel", "users", [&] { auth::UsersDb().load(*s->users); });
  }
  if (const auto& s = c.client) {
    if (s->ca) checked("tunnel", "ca", [&] { auth::make_verify_store(*s->ca, std::nullopt); });
    if (s->certificate) check_cert_pair("tunnel", *s->certificate, *s->private_key);
    if (s->password_file) checked("tunnel", "password_file", [&] { config::read_password_file(*s->password_file); });
  }
  if (const auto& s = c.smtp) {
    check_cert_pair("smtp", s->certificate, s->private_key);
    if (s->users) checked("smtp", "users", [&] { auth::UsersDb().load(*s->users); });
    if (s->senders) checked("smtp", "senders", [&] { smtp::load_sender_map(s->senders->string()); });
    if (s->recipients) {
      checked("smtp", "recipients", [&] { smtp::load_recipient_map(s->recipients->string(), s->domains); });
    }
    if (s->maildir_group) {
      checked("smtp", "maildir_group", [&] {
        if (!::getgrnam(s->maildir_group->c_str())) throw std::runtime_error("no such group " + *s->maildir_group);
      });
    }
    if (const auto& r = s->relay) {
      if (r->ca) checked("smtp.relay", "ca", [&] { auth::make_verify_store(*r->ca, std::nullopt); });
      if (r->password_file) checked("smtp.relay", "password_file", [&] { config::read_password_file(*r->password_file); });
    }
  }
}

POSTERN_REGISTER_COMMAND(40, [](CLI::App& app) {
  struct Args {
    std::string file;
    bool files = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("check-config", "Validate a configuration file");
  cmd->add_option("file", args->file, "Configuration file (TOML)")->required();
  cmd->add_flag("--files", args->files, "Also open the certificates, keys and users files it names");
  cmd->callback([args] {
    try {
      config::Config c = config::load_config(args->file);
      if (args->files) check_files(c);
      std::printf("%s: ok (%s)\n", args->file.c_str(), summary(c).c_str());
    } catch (const config::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      set_exit_status(1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", args->file.c_str(), e.what());
      set_exit_status(1);
    }
  });
});

}  // namespace
}  // namespace postern::cli
