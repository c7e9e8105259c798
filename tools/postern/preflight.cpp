// Start-up checks shared by the server and check-config (see preflight.hpp).
#include "tools/postern/preflight.hpp"

#include "platform/bind_probe.hpp"
#include "common/ip_address.hpp"
#include "platform/file_access.hpp"
#include "platform/privileges.hpp"
#include "smtp/core/recipient_map.hpp"
#include "smtp/core/sender_map.hpp"
#include "auth/cert_checks.hpp"
#include "auth/pki.hpp"
#include "auth/users_db.hpp"

#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <optional>

namespace postern::cli {
namespace {

namespace auth = postern::auth;
namespace fs = std::filesystem;

class Checker {
 public:
  explicit Checker(const config::Config& config) : config_(config) {}

  // Runs one check of the file behind [section] key; a throw becomes a problem with `fix`.
  void file(std::string_view section, std::string_view key, const std::function<void()>& check,
            std::string fix) {
    try {
      check();
    } catch (const std::exception& e) {
      add(section, key, e.what(), std::move(fix));
    }
  }

  void add(std::string_view section, std::string_view key, std::string what, std::string fix,
           bool warning = false) {
    problems_.push_back({config_.where(section, key), std::move(what), std::move(fix), warning});
  }

  std::vector<PreflightProblem> take() { return std::move(problems_); }
  const config::Config& config() const { return config_; }

 private:
  const config::Config& config_;
  std::vector<PreflightProblem> problems_;
};

void check_cert_pair(Checker& c, std::string_view section, const fs::path& cert, const fs::path& key,
                     const std::string& fix) {
  c.file(section, "certificate", [&] { auth::read_certificate_pem(cert); }, fix);
  c.file(section, "private_key", [&] {
    auto k = auth::read_private_key_pem(key);
    auto x = auth::read_certificate_pem(cert);
    if (X509_check_private_key(x.get(), k.get()) != 1) {
      throw std::runtime_error(key.string() + " is not the key of " + cert.string());
    }
  }, "give the key written together with the certificate (NAME.key beside NAME.pem)");
}

void check_files(Checker& c) {
  const config::Config& config = c.config();
  if (const auto& s = config.server) {
    check_cert_pair(c, "tunnel", s->certificate, s->private_key,
                    "`postern pki init DIR --server-name NAME` writes DIR/server.pem and DIR/server.key");
    if (s->client_ca) {
      c.file("tunnel", "client_ca", [&] { auth::make_verify_store(*s->client_ca, std::nullopt); },
             "the CA that signs the laptops' certificates: DIR/ca.pem of `postern pki init`");
      if (s->crl) {
        c.file("tunnel", "crl", [&] { auth::make_verify_store(*s->client_ca, s->crl); },
               "`postern pki revoke DIR NAME` writes DIR/crl.pem, signed by client_ca; or remove the key");
      }
    }
    if (s->deny_list) {
      c.file("tunnel", "deny_list", [&] { auth::DenyList().load(*s->deny_list); },
             "create it: one SHA-256 certificate fingerprint per line (an empty file denies nobody); or "
             "remove the key");
    }
    if (s->users) {
      c.file("tunnel", "users", [&] { auth::UsersDb().load(*s->users); },
             "create it: `postern user add " + s->users->string() + " NAME` (the password is read from stdin)");
    }
  }
  if (const auto& l = config.auth.ldap) {
    if (l->ca) {
      c.file("auth.ldap", "ca", [&] { auth::make_verify_store(*l->ca, std::nullopt); },
             "the PEM CA bundle that signed the directory server's certificate");
    }
    if (l->bind_password_file) {
      c.file("auth.ldap", "bind_password_file", [&] { config::read_password_file(*l->bind_password_file); },
             "one line holding the service account's password, mode 0600");
    }
  }
  if (const auto& r = config.auth.radius) {
    c.file("auth.radius", "secret_file", [&] { config::read_password_file(r->secret_file); },
           "one line holding the RADIUS shared secret (as in the server's clients.conf), mode 0600");
  }
  if (const auto& s = config.client) {
    if (s->ca) {
      c.file("tunnel", "ca", [&] { auth::make_verify_store(*s->ca, std::nullopt); },
             "the site's ca.pem (from the server's `postern pki init` directory)");
    }
    if (s->certificate) {
      check_cert_pair(c, "tunnel", *s->certificate, *s->private_key,
                      "`postern pki issue DIR NAME` on the site writes DIR/NAME.pem and DIR/NAME.key");
    }
    if (s->password_file) {
      c.file("tunnel", "password_file", [&] { config::read_password_file(*s->password_file); },
             "one line holding the password, mode 0600: `install -m 600 /dev/null FILE`, then write it");
    }
  }
  if (const auto& s = config.smtp) {
    check_cert_pair(c, "smtp", s->certificate, s->private_key,
                    "a certificate for the name mail clients connect to (`postern pki issue DIR NAME --server`)");
    if (s->users) {
      c.file("smtp", "users", [&] { auth::UsersDb().load(*s->users); },
             "create it: `postern user add " + s->users->string() + " NAME` (the password is read from stdin)");
    }
    if (s->senders) {
      c.file("smtp", "senders", [&] { smtp::load_sender_map(s->senders->string()); },
             "one line per identity, `name: address, *@domain` (docs/smtp-identity.md)");
    }
    if (s->recipients) {
      c.file("smtp", "recipients", [&] { smtp::load_recipient_map(s->recipients->string(), s->domains); },
             "one line per local address or alias (docs/smtp-identity.md)");
    }
    if (s->maildir_group) {
      c.file("smtp", "maildir_group", [&] {
        if (::getgrnam(s->maildir_group->c_str()) == nullptr) throw std::runtime_error("no such group " + *s->maildir_group);
      }, "the group the IMAP server reads the Maildir with (e.g. `vmail`): create it, or remove the key");
    }
    if (const auto& r = s->relay) {
      if (r->ca) {
        c.file("smtp.relay", "ca", [&] { auth::make_verify_store(*r->ca, std::nullopt); },
               "the CA (PEM) that signed the site MTA's certificate; or remove the key to use the system store");
      }
      if (r->password_file) {
        c.file("smtp.relay", "password_file", [&] { config::read_password_file(*r->password_file); },
               "one line holding the relay password, mode 0600");
      }
    }
  }
}

// The files the server re-reads at SIGHUP, after the privilege drop (docs/commands.md).
void check_reread_by_run_as(Checker& c) {
  const config::Config& config = c.config();
  if (!config.server && !config.smtp) return;
  const auto& daemon = config.daemon;
  if (daemon.user == "root" || daemon.user == "0") return;
  platform::PrivilegeDrop drop{daemon.user, daemon.group, {}, {}};
  if (config.smtp && config.smtp->maildir_group) drop.supplementary_groups.push_back(*config.smtp->maildir_group);
  platform::RunAsIdentity who;
  try {
    who = platform::resolve_run_as(drop);
  } catch (const std::exception& e) {
    c.add("daemon", daemon.group.empty() ? "user" : "group", e.what(),
          "create the system user (`adduser --system --group postern`), or name an existing one");
    return;
  }
  std::string group_name = daemon.group;
  if (group_name.empty()) {
    const struct group* gr = ::getgrgid(who.gid);
    group_name = gr != nullptr ? gr->gr_name : std::to_string(who.gid);
  }
  const std::string as = daemon.user + " (group " + group_name + ")";
  auto readable = [&](std::string_view section, std::string_view key, const std::optional<fs::path>& path) {
    if (!path) return;
    std::error_code ec;
    if (!fs::exists(*path, ec)) return;  // check_files reports a missing file
    const std::string why = platform::why_unreadable(*path, who);
    if (why.empty()) return;
    c.add(section, key, "the daemon runs as " + as + " after start and cannot re-read it at SIGHUP: " + why,
          "give it to the run-as user's group: `chgrp " + group_name + " " + path->string() + " && chmod 0640 " +
              path->string() + "` (postern user add keeps the owner and mode it finds), or set [daemon] group");
  };
  if (const auto& s = config.server) {
    readable("tunnel", "users", s->users);
    readable("tunnel", "client_ca", s->client_ca);
    readable("tunnel", "crl", s->crl);
    readable("tunnel", "deny_list", s->deny_list);
  }
  if (const auto& s = config.smtp) {
    readable("smtp", "users", s->users);
    readable("smtp", "senders", s->senders);
    readable("smtp", "recipients", s->recipients);
  }
}

void probe(Checker& c, std::string_view section, std::string_view key, const IpEndpoint& at,
           platform::Transport transport, bool in_use_warns) {
  const std::error_code ec = platform::probe_bind(at, transport);
  if (!ec) return;
  const std::string proto = transport == platform::Transport::tcp ? "TCP" : "UDP";
  const std::string what = "cannot bind " + at.to_string() + " (" + proto + "): " + ec.message();
  if (ec.value() == EADDRNOTAVAIL) {
    c.add(section, key, what,
          at.address().to_string() + " is not an address of this host (`ip -brief address` lists them): use one of them, "
                    "or 0.0.0.0 for every address");
  } else if (ec.value() == EADDRINUSE) {
    c.add(section, key, what,
          "another process listens there (`ss -lntup 'sport = :" + std::to_string(at.port()) +
              "'` names it): stop it, or choose another port",
          in_use_warns);
  } else if (ec.value() == EACCES && ::geteuid() != 0) {
    c.add(section, key, what, "ports below 1024 need root: the daemon starts as root; run the check as root",
          true);
  } else {
    c.add(section, key, what, "check the address and port");
  }
}

void check_listeners(Checker& c, bool in_use_warns) {
  const config::Config& config = c.config();
  if (const auto& s = config.server) {
    probe(c, "tunnel", "listen", s->listen, platform::Transport::tcp, in_use_warns);
    probe(c, "tunnel", s->data_port == s->listen.port() ? "listen" : "data_port",
          IpEndpoint(s->listen.address(), s->data_port), platform::Transport::udp, in_use_warns);
  }
  if (const auto& s = config.smtp) {
    for (const auto& l : s->listen) {
      // The server's own tunnel addresses (pool, pool6) exist only once the TUN device is up (after this).
      if (config.server && config.server->pool.contains(l.endpoint.address())) continue;
      if (config.server && config.server->pool6 && config.server->pool6->contains(l.endpoint.address())) continue;
      probe(c, "smtp", "listen", l.endpoint, platform::Transport::tcp, in_use_warns);
    }
  }
}

}  // namespace

std::string PreflightProblem::text() const {
  return where + ": " + what + (warning ? " (warning)" : "") + "\n  fix: " + fix;
}

std::vector<PreflightProblem> preflight(const config::Config& config, const PreflightOptions& options) {
  Checker c(config);
  check_files(c);
  if (options.run_as_files) check_reread_by_run_as(c);
  check_listeners(c, options.in_use_warns);
  return c.take();
}

}  // namespace postern::cli
