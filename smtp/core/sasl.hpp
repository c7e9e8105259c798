// SASL helpers for AUTH (RFC 4954): base64 (RFC 4648 4, strict: padding required, no spaces)
// and the PLAIN message (RFC 4616 2: [authzid] NUL authcid NUL passwd).
// Contract: decoded bytes go straight into SecretBytes; nothing here logs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/secret.hpp"

namespace postern::smtp {

std::optional<SecretBytes> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

struct PlainCredentials {
  std::string authzid;
  std::string authcid;
  SecretBytes password;
};
// nullopt unless there are exactly two NULs and authcid and passwd are non-empty.
std::optional<PlainCredentials> parse_plain(const SecretBytes& message);

}  // namespace postern::smtp
