// The sender map: grammar, checks and lookups (see sender_map.hpp for the format).
#include "smtp/core/sender_map.hpp"

#include <algorithm>

#include "smtp/core/address.hpp"
#include "smtp/core/map_lines.hpp"

namespace postern::smtp {
namespace {

constexpr std::size_t kMaxIdentity = 128;  // as the users file (auth/users_db.cpp)

bool valid_identity(std::string_view identity) {
  if (identity.empty() || identity.size() > kMaxIdentity) return false;
  return std::all_of(identity.begin(), identity.end(),
                     [](char c) { return c >= ' ' && c < 0x7f && c != ':'; });
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

SenderMap parse_sender_map(std::string_view text, std::string_view file_name) {
  SenderMap map;
  for (const map_lines::Line& line : map_lines::content_lines(text)) {
    const auto fail = [&](const std::string& what) { map_lines::fail(file_name, line.number, what); };
    const std::size_t colon = line.text.find(':');
    if (colon == std::string_view::npos) fail("missing ':' after the identity (expected \"identity: address, ...\")");
    const std::string_view identity = map_lines::trim(line.text.substr(0, colon));
    if (!valid_identity(identity)) fail("invalid identity " + quoted(identity));
    const std::string_view list = map_lines::trim(line.text.substr(colon + 1));
    if (list.empty()) fail("identity " + quoted(identity) + " lists no addresses");

    SenderMap::Entry entry;
    entry.line = line.number;
    for (std::string_view item : map_lines::split_list(list)) {
      if (item.empty()) fail("empty address in the list of " + quoted(identity));
      if (item.starts_with("*@")) {
        const std::string_view domain = item.substr(2);
        // A domain is valid if "x@domain" is a valid mailbox: one grammar, address.cpp's.
        if (!valid_mailbox("x@" + std::string(domain))) fail("invalid domain in wildcard " + quoted(item));
        entry.domains.push_back(map_lines::fold_case(domain));
      } else if (item.find('*') != std::string_view::npos && !item.starts_with('"')) {
        fail("invalid wildcard " + quoted(item) + " (only \"*@domain\" is supported)");
      } else if (!valid_mailbox(item)) {
        fail("invalid address " + quoted(item));
      } else {
        entry.addresses.push_back(map_lines::fold_case(item));
      }
    }
    auto [it, inserted] = map.entries_.emplace(std::string(identity), std::move(entry));
    if (!inserted) {
      fail("duplicate identity " + quoted(identity) + " (first listed on line " + std::to_string(it->second.line) + ")");
    }
  }
  return map;
}

SenderMap load_sender_map(const std::string& path) {
  return parse_sender_map(map_lines::read_map_file(path, "sender map"), path);
}

bool SenderMap::may_send_as(std::string_view identity, std::string_view address) const {
  const auto it = entries_.find(std::string(identity));
  if (it == entries_.end()) return false;
  const std::string folded = map_lines::fold_case(address);
  const Entry& e = it->second;
  if (std::find(e.addresses.begin(), e.addresses.end(), folded) != e.addresses.end()) return true;
  const std::string_view domain = domain_of(folded);
  return !domain.empty() && std::find(e.domains.begin(), e.domains.end(), domain) != e.domains.end();
}

bool SenderMap::default_allowed(std::string_view identity, std::string_view address,
                                std::span<const std::string> local_domains) {
  const std::size_t at = address.rfind('@');
  if (identity.empty() || at == std::string_view::npos) return false;
  // A user named by an address (SMTP AUTH users often are: "alice@example.org") may use it.
  if (iequals(address, identity)) return true;
  if (!iequals(address.substr(0, at), identity)) return false;
  const std::string_view domain = address.substr(at + 1);
  return std::any_of(local_domains.begin(), local_domains.end(),
                     [&](const std::string& local) { return iequals(local, domain); });
}

}  // namespace postern::smtp
