// The seam between the daemons and whoever answers passwords: the users file (UsersDb), an LDAP
// directory (LdapBackend) or RADIUS servers (RadiusBackend). The tunnel and SMTP AUTH call
// authenticate() on their verification threads, after their own throttling; the backend only
// says what became of this one attempt.
// Contract:
//  - authenticate() may block (scrypt, a directory round trip) but always returns within the
//    backend's configured timeouts; it is thread-safe and never throws for what the network or
//    the directory does. The password stays in SecretBytes and is never logged.
//  - temporarily_failed means "nobody could say": the backend was unreachable or answered
//    garbage. Callers must refuse the login without counting it as a bad password and tell the
//    client to retry (tunnel: AUTH_FAIL "authentication temporarily unavailable"; SMTP: 454 4.7.0).
//    It is never turned into an accept.
#pragma once

#include "common/secret.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

enum class PasswordOutcome { accepted, rejected, temporarily_failed };
std::string_view to_string(PasswordOutcome outcome);  // "accepted", "rejected", "temporarily_failed"

// Which service asks (RADIUS Service-Type, and what the operator log says).
enum class PasswordService { tunnel, smtp };

struct PasswordRequest {
  std::string_view user;
  const SecretBytes& password;
  PasswordService service = PasswordService::tunnel;
  std::string_view peer;  // the client's outer address ("192.0.2.7"), RADIUS Calling-Station-Id
};

struct PasswordVerdict {
  PasswordOutcome outcome = PasswordOutcome::rejected;
  // For the operator log, never for the client: "bad user or password", "not in group_filter",
  // a RADIUS Reply-Message, "ldap://...: Can't contact LDAP server".
  std::string reason;
  // RADIUS Access-Accept Framed-IP-Address (host byte order): the tunnel address to assign.
  std::optional<std::uint32_t> framed_ipv4;
  // RADIUS Access-Accept Class attributes, echoed in accounting (RFC 2865 5.25).
  std::vector<std::vector<std::uint8_t>> radius_class;

  static PasswordVerdict accepted() { return {PasswordOutcome::accepted, "", {}, {}}; }
  static PasswordVerdict rejected(std::string why) { return {PasswordOutcome::rejected, std::move(why), {}, {}}; }
  static PasswordVerdict unavailable(std::string why) {
    return {PasswordOutcome::temporarily_failed, std::move(why), {}, {}};
  }
};

class PasswordBackend {
 public:
  virtual ~PasswordBackend() = default;
  virtual PasswordVerdict authenticate(const PasswordRequest& request) const = 0;
  virtual std::string_view kind() const = 0;  // "file", "ldap", "radius" (logs, status)
  // SIGHUP: the users file is re-read (throws and keeps the old contents on error); a directory
  // has nothing to re-read.
  virtual void reload() {}
  // After a reload: false when `user` is known to be gone, so its sessions end. A directory is
  // only asked at the next login, so it answers true.
  virtual bool may_still_exist(std::string_view user) const { (void)user; return true; }
  // For the reload log line's users= field: the number of users in the file, the backend's
  // kind for a directory.
  virtual std::string summary() const { return std::string(kind()); }
};

}  // namespace postern::auth
