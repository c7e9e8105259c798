// Which local recipients exist, and aliases: the recipient map (Postfix virtual_mailbox_maps and
// virtual_alias_maps in one file). The session asks it at RCPT TO for a local domain: unknown is
// 550 5.1.1 then and there, so no Maildir is ever created for a typo.
//
// File format, one address per line:
//
//     # comment (a line whose first non-blank character is '#'), blank lines ignored
//     alice@site.example                               a mailbox that exists
//     sales@site.example: alice@site.example, bob@site.example     an alias (one-to-many)
//     team@site.example:  sales@site.example, carol@partner.example
//     bob@site.example:   bob@site.example, bob@home.example       self-reference: own mailbox too
//
// * The key is a mailbox (RFC 5321 4.1.2, smtp/core/address.hpp valid_mailbox); ':' inside a
//   quoted local part does not count as the separator.
// * Alias targets, comma-separated, non-empty: a mailbox of this map, another alias (expanded
//   recursively), the alias itself (its own mailbox: the Postfix "deliver here too" idiom), or
//   any other address, returned as is for the relay.
// * Each key appears on one line only. Aliases nest at most kMaxAliasDepth deep (an alias whose
//   targets are all final has depth 1); a loop or deeper nesting is a load-time error on the line
//   of the alias where it is found, with the chain.
// * When `local_domains` are given to the parser, two more errors are caught: a key outside them
//   (it could never be looked up), and a target at a local domain that is neither a mailbox nor
//   an alias here (it would bounce every time).
// Errors name "file:line:" and the problem.
//
// Case: domains compare case-insensitively (RFC 5321 2.4) and so do local parts (RFC 5321 2.4
// allows case-sensitive local parts; like Postfix lookups we fold them). Only ASCII is folded.
// resolve() returns the mailboxes of this map case-folded (the canonical name a Maildir path can
// use) and other targets as written; duplicates (compared case-insensitively) are removed, first
// occurrence kept, in the order the file lists them (depth first).
// Contract: parse/load throw std::runtime_error (startup and SIGHUP only); every expansion is
// computed at load time, so resolve() is a lookup, never throws, and is safe concurrently.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postern::smtp {

inline constexpr int kMaxAliasDepth = 10;

class RecipientMap {
 public:
  // nullopt: no such recipient (550 5.1.1). Otherwise the final recipients, never empty.
  std::optional<std::vector<std::string>> resolve(std::string_view address) const;

  bool contains(std::string_view address) const;
  std::size_t size() const { return resolved_.size(); }

 private:
  friend RecipientMap parse_recipient_map(std::string_view text, std::string_view file_name,
                                          std::span<const std::string> local_domains);
  std::unordered_map<std::string, std::vector<std::string>> resolved_;  // case-folded key -> final
};

// Throws std::runtime_error("<file_name>:<line>: <what is wrong>"). `local_domains` (the [smtp]
// domains) enable the two extra checks above; empty skips them.
RecipientMap parse_recipient_map(std::string_view text, std::string_view file_name,
                                 std::span<const std::string> local_domains = {});
// Throws std::runtime_error naming `path` when it cannot be read, else as parse_recipient_map.
RecipientMap load_recipient_map(const std::string& path, std::span<const std::string> local_domains = {});

}  // namespace postern::smtp
