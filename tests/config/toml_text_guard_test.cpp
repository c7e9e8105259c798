// The pre-scan that keeps toml++ 3.3 away from the characters it cannot classify
// (common/toml_text_guard.hpp): refused between tokens and in multi-line basic strings,
// kept in comments and the other string forms; and parse_config turning a hit into a
// file:line error instead of undefined behaviour.
#include "common/config.hpp"
#include "common/toml_text_guard.hpp"

#include <gtest/gtest.h>

namespace postern::config {
namespace {

TEST(TomlTextGuard, Table) {
  struct Case {
    const char* text;
    std::optional<std::size_t> line;  // of the refused character, nullopt when accepted
  } cases[] = {
      {"[tunnel]\nlisten = \"0.0.0.0:8443\"\n", std::nullopt},
      {"# Jos\xC3\xA9's server\n[tunnel]\n", std::nullopt},               // comment
      {"name = \"Jos\xC3\xA9\"\n", std::nullopt},                          // basic string
      {"name = 'Jos\xC3\xA9'\n", std::nullopt},                            // literal string
      {"name = '''\nJos\xC3\xA9\n'''\n", std::nullopt},                    // multi-line literal
      {"name = \"a\\\"\xC3\xA9\"\n", std::nullopt},                        // after an escaped quote, still inside
      {"\xC3\xA9 = 1\n", 1},                                               // bare key position
      {"[tunnel]\nlisten =\xC2\xA1\"x\"\n", 2},                            // U+00A1 between tokens
      {"a = 1\nb = 2 \xEF\xBB\xBF\n", 2},                                  // U+FEFF after a value
      {"s = \"\"\"\nJos\xC3\xA9\n\"\"\"\n", 2},                            // multi-line basic string
      {"s = \"\"\"x\\\xC3\xA9\"\"\"\n", 1},                                // escape in a multi-line basic string
      {"s = \"ok\" # fine \xC3\xA9\nt = \xC3\xA9\n", 2},                   // comment ends at the line break
      {"x = \"\xE2\x82\xAC\"\ny = \xE2\x82\xAC\n", std::nullopt},          // U+20AC is outside the ranges
      {"li = 0.0\"=x\\\xC3\xA9 \"\n", 1},                                // a quote inside a bare token opens nothing
      {"a.\"k\xC3\xA9y\" = [ \"x\", 'y\xC3\xA9' ]\n", std::nullopt},          // quoted key part, array items
      {"t = { k = \"\xC3\xA9\" }\n", std::nullopt},                            // inline table value
  };
  for (const auto& c : cases) {
    auto found = find_unsafe_toml_character(c.text);
    ASSERT_EQ(found.has_value(), c.line.has_value()) << c.text;
    if (found) {
      EXPECT_EQ(found->line, *c.line) << c.text;
    }
  }
}

TEST(TomlTextGuard, ParseConfigNamesFileLineAndCharacter) {
  try {
    parse_config("[smtp]\nlisten = [\"127.0.0.1:2525\"]\ndomains = [\"site.example\"] \xC3\xA9\n", "/etc/postern/site.toml");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "/etc/postern/site.toml:3: character U+00E9 outside a quoted string or comment (TOML allows only ASCII "
                 "there; a multi-line \"\"\" string cannot hold it either)");
  }
}

}  // namespace
}  // namespace postern::config
