// The pre-scan that keeps toml++ 3.3 away from the characters it cannot classify
// (common/toml_text_guard.hpp): kept in comment lines and `key = "string"` lines, refused on
// any other line; and parse_config turning a hit into a
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
      {"# Jos\xC3\xA9's server\n[tunnel]\n", std::nullopt},               // comment line
      {"  \t# \xD0\xBF\xD1\x80\xD0\xBE\xD0\xBA\xD1\x81\xD0\xB8\n", std::nullopt},  // indented comment, Cyrillic
      {"name = \"Jos\xC3\xA9\"\n", std::nullopt},                          // key = "string"
      {"a.b = 'Jos\xC3\xA9' # caf\xC3\xA9\n", std::nullopt},               // key = 'string' # comment
      {"name = \"a\\\"\xC3\xA9\" \r\n", std::nullopt},                      // after an escaped quote, still inside
      {"\xC3\xA9 = 1\n", 1},                                               // bare key
      {"[tunnel]\nlisten =\xC2\xA1\"x\"\n", 2},                            // U+00A1 between tokens
      {"a = 1\nb = 2 \xEF\xBB\xBF\n", 2},                                  // U+FEFF after a value
      {"s = \"ok\" # fine \xC3\xA9\nt = \xC3\xA9\n", 2},                   // a bare value
      {"li = 0.0\"=x\\\xC3\xA9 \"\n", 1},                                  // a quote inside a bare value
      {"a =67:ef:=\"01\\\"\xC3\xA9\":2\n", 1},                             // found by fuzz_config
      {"s = \"\"\"\nJos\xC3\xA9\n\"\"\"\n", 2},                            // multi-line string content
      {"s = \"x\\\xC3\xA9\"\n", 1},                                        // a non-ASCII escape
      {"a = [\"\xC3\xA9\"]\n", 1},                                         // arrays are not the simple shape
      {"x = \"\xE2\x82\xAC\"\ny = \xE2\x82\xAC\n", std::nullopt},          // U+20AC is outside the ranges
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
                 "/etc/postern/site.toml:3: character U+00E9 is only accepted in a comment line or a key = \"string\" "
                 "line (the TOML parser would misread it here)");
  }
}

}  // namespace
}  // namespace postern::config
