// Backend construction (see password_backends.hpp).
#include "auth/password_backends.hpp"

#include "auth/ldap_backend.hpp"
#include "auth/radius_backend.hpp"
#include "auth/users_db.hpp"

namespace postern::auth {

std::shared_ptr<PasswordBackend> make_password_backend(const config::AuthConfig& auth,
                                                       const std::optional<std::filesystem::path>& users) {
  switch (auth.backend) {
    case config::PasswordBackendKind::file: {
      if (!users) return nullptr;
      auto db = std::make_shared<UsersDb>();
      db->load(*users);
      return db;
    }
    case config::PasswordBackendKind::ldap: {
      SecretBytes password;
      if (auth.ldap->bind_password_file) password = config::read_password_file(*auth.ldap->bind_password_file);
      return std::make_shared<LdapBackend>(*auth.ldap, std::move(password));
    }
    case config::PasswordBackendKind::radius:
      return std::make_shared<RadiusBackend>(*auth.radius, config::read_password_file(auth.radius->secret_file));
  }
  return nullptr;
}

}  // namespace postern::auth
