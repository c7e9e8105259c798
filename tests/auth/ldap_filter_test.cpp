// RFC 4515 filter escaping: a login name can never change the structure of the search filter.
#include "auth/ldap_filter.hpp"

#include <gtest/gtest.h>

namespace postern::auth {
namespace {

TEST(LdapFilter, EscapesEveryRfc4515SpecialCharacter) {
  struct Case {
    std::string_view in, out;
  };
  const Case cases[] = {
      {"alice", "alice"},
      {"alice@example.org", "alice@example.org"},
      {"*", "\\2a"},
      {"a*)(uid=*", "a\\2a\\29\\28uid=\\2a"},     // the classic injection
      {"x)(|(objectClass=*)", "x\\29\\28|\\28objectClass=\\2a\\29"},
      {"back\\slash", "back\\5cslash"},
      {std::string_view("nul\0byte", 8), "nul\\00byte"},
      {"tab\there", "tab\\09here"},
      {"caf\xc3\xa9", "caf\\c3\\a9"},               // UTF-8 bytes escaped (allowed, unambiguous)
      {"", ""},
  };
  for (const auto& c : cases) EXPECT_EQ(escape_filter_value(c.in), c.out) << c.in;
}

TEST(LdapFilter, ExpandsPlaceholders) {
  EXPECT_EQ(expand_filter("(uid=%u)", "alice"), "(uid=alice)");
  EXPECT_EQ(expand_filter("(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%u)))", "a*"),
            "(&(objectClass=inetOrgPerson)(|(uid=a\\2a)(mail=a\\2a)))");
  EXPECT_EQ(expand_filter("(&(cn=vpn)(member=%d))", "alice", "uid=alice,ou=people,dc=ex"),
            "(&(cn=vpn)(member=uid=alice,ou=people,dc=ex))");
  // A DN with escaped characters of its own (RFC 4514) is escaped again for the filter.
  EXPECT_EQ(expand_filter("(member=%d)", "", "cn=Smith\\, J (ops),dc=ex"), "(member=cn=Smith\\5c, J \\28ops\\29,dc=ex)");
  EXPECT_EQ(expand_filter("(pct=100%%)(uid=%u)", "bob"), "(pct=100%)(uid=bob)");
}

}  // namespace
}  // namespace postern::auth
