// RFC 4515 filter value escaping (see ldap_filter.hpp).
#include "auth/ldap_filter.hpp"

namespace postern::auth {

std::string escape_filter_value(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    const auto byte = static_cast<unsigned char>(ch);
    const bool special = ch == '*' || ch == '(' || ch == ')' || ch == '\\';
    if (special || byte < 0x20 || byte > 0x7e) {
      out += '\\';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string expand_filter(std::string_view filter_template, std::string_view user, std::string_view dn) {
  std::string out;
  for (std::size_t i = 0; i < filter_template.size(); ++i) {
    const char ch = filter_template[i];
    if (ch != '%' || i + 1 == filter_template.size()) {
      out += ch;
      continue;
    }
    const char next = filter_template[++i];
    if (next == 'u') out += escape_filter_value(user);
    else if (next == 'd') out += escape_filter_value(dn);
    else if (next == '%') out += '%';
    else {
      out += '%';
      out += next;
    }
  }
  return out;
}

}  // namespace postern::auth
