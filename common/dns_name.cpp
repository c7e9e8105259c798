// DNS name checks (see dns_name.hpp).
#include "common/dns_name.hpp"

#include <algorithm>
#include <cctype>

namespace postern::dns {

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;  // leading dot or ".."
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    if (++label > kMaxLabelLength) return false;
  }
  return label != 0;  // no trailing dot
}

std::optional<Domain> parse_domain(std::string_view text) {
  Domain d;
  if (!text.empty() && text.front() == '~') {
    d.routing_only = true;
    text.remove_prefix(1);
  }
  if (!is_dns_name(text)) return std::nullopt;
  d.name.assign(text);
  std::transform(d.name.begin(), d.name.end(), d.name.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return d;
}

}  // namespace postern::dns
