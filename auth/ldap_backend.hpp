// The "ldap" password backend ([auth.ldap], docs/directory-auth.md), on OpenLDAP's libldap:
// over LDAPS or StartTLS (TLS 1.2+, the server certificate checked against `ca` and the URI's
// host name; a plain bind is never sent over cleartext), search the login's entry under `base`
// with `filter` (the name escaped, RFC 4515) as the service account, check `group_filter` if
// set, then bind as the entry's DN with the password (RFC 4513 5.1.3 simple bind).
// Contract (PasswordBackend): an empty password is rejected before anything is sent (RFC 4513
// 5.1.2: it would be an unauthenticated bind that "succeeds"); no entry, several entries, not in
// the group or invalidCredentials -> rejected; the directory unreachable, timed out or answering
// anything else -> temporarily_failed. One connection is reused under a mutex (the service
// bind is redone after each user bind) and reopened once when the server went away.
#pragma once

#include "auth/password_backend.hpp"
#include "common/config.hpp"

#include <memory>
#include <mutex>
#include <string>

namespace postern::auth {

class LdapBackend : public PasswordBackend {
 public:
  // `bind_password` is the content of bind_password_file (read before the privilege drop).
  LdapBackend(const config::LdapConfig& config, SecretBytes bind_password);
  ~LdapBackend() override;

  PasswordVerdict authenticate(const PasswordRequest& request) const override;
  std::string_view kind() const override { return "ldap"; }

 private:
  struct Connection;
  PasswordVerdict attempt(const PasswordRequest& request, bool* retry) const;

  config::LdapConfig config_;
  SecretBytes bind_password_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<Connection> connection_;  // null until first use or after a failure
};

}  // namespace postern::auth
