// The "radius" password backend ([auth.radius], docs/directory-auth.md): one PAP
// Access-Request per login (radius_packet.hpp: Message-Authenticator first, checked on the
// answer), sent through radius::Transport (servers in order, tries x timeout each).
// Access-Accept -> accepted, with Framed-IP-Address and Class kept for the tunnel;
// Access-Reject -> rejected, its Reply-Message as the reason; Access-Challenge -> rejected
// (no second factor prompt over this channel); no valid answer from any server ->
// temporarily_failed.
#pragma once

#include "auth/password_backend.hpp"
#include "auth/radius_transport.hpp"
#include "common/config.hpp"

namespace postern::auth {

class RadiusBackend : public PasswordBackend {
 public:
  // `secret` is the content of secret_file (read before the privilege drop).
  RadiusBackend(const config::RadiusConfig& config, SecretBytes secret);

  PasswordVerdict authenticate(const PasswordRequest& request) const override;
  std::string_view kind() const override { return "radius"; }

 private:
  config::RadiusConfig config_;
  SecretBytes secret_;
  radius::Transport transport_;
};

// The attributes of an Access-Request for `request` (after User-Name and User-Password).
std::vector<radius::Attribute> access_request_attributes(const PasswordRequest& request, std::string_view nas_identifier);
// What an answer means (sans-I/O, table-tested).
PasswordVerdict verdict_of(const radius::Packet& answer);

}  // namespace postern::auth
