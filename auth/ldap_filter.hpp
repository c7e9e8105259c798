// LDAP search filters built from a login name (sans-I/O, no libldap): the operator's template
// ("(uid=%u)", "(&(objectClass=groupOfNames)(member=%d))") with every placeholder replaced by
// the value escaped as RFC 4515 3 requires, so a login name can never change the filter's
// structure ("*", "(", ")", "\" and NUL become \2a \28 \29 \5c \00).
#pragma once

#include <string>
#include <string_view>

namespace postern::auth {

// RFC 4515 3 <valueencoding>: escapes '*', '(', ')', '\', NUL, and also every byte outside
// printable ASCII (allowed by the RFC, and keeps logs and the wire unambiguous).
std::string escape_filter_value(std::string_view value);

// Replaces %u with escape_filter_value(user), %d with escape_filter_value(dn) and %% with '%'.
// The template is validated by the config loader (balanced parentheses, known placeholders).
std::string expand_filter(std::string_view filter_template, std::string_view user, std::string_view dn = {});

}  // namespace postern::auth
