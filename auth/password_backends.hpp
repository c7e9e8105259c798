// Builds the password backend [auth] names (docs/directory-auth.md). Reads the users file, the
// LDAP bind password file or the RADIUS secret file: call it before the privilege drop, like
// the TLS keys. Throws (naming the file) when one cannot be read.
#pragma once

#include "auth/password_backend.hpp"
#include "common/config.hpp"

#include <filesystem>
#include <memory>
#include <optional>

namespace postern::auth {

// null when backend = "file" and `users` is unset (no password logins for that service).
std::shared_ptr<PasswordBackend> make_password_backend(const config::AuthConfig& auth,
                                                       const std::optional<std::filesystem::path>& users);

}  // namespace postern::auth
