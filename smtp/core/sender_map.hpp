// Who may use which MAIL FROM address: the sender map (Postfix smtpd_sender_login_maps with
// reject_sender_login_mismatch). The session asks it once per MAIL FROM of an identified client.
//
// File format, one identity per line:
//
//     # comment (a line whose first non-blank character is '#'), blank lines ignored
//     alice: alice.smith@site.example, sales@site.example
//     boss:  *@site.example, boss@other.example
//
// * identity: a password user or a certificate identity (subject CN). They are one namespace:
//   CN "alice" and user "alice" are the same person (the tunnel enforces it under auth = "both").
//   Compared exactly (case-sensitive), as the users file and the tunnel do. Any printable ASCII
//   except ':' (spaces inside allowed: CNs have them), at most 128 bytes.
// * after the first ':', a comma-separated, non-empty list of
//     - a mailbox (RFC 5321 4.1.2 Mailbox, smtp/core/address.hpp valid_mailbox), or
//     - "*@domain": every address at that domain (not its subdomains). A '*' anywhere else
//       outside a quoted local part is an error (it is legal atext, but "*", "*.example" or
//       "a*@x" in this file are wildcard attempts, not addresses).
// * An identity appears on one line only; a second line for it is an error.
// Errors name "file:line:" and the problem: missing ':', empty/invalid identity, empty list or
// item, bad address syntax, bad wildcard, duplicate identity (with the first line).
//
// Case: domains compare case-insensitively (RFC 5321 2.4); local parts too, though RFC 5321 2.4
// lets the receiving host treat them as case-sensitive — as Postfix table lookups do, so
// "Alice@Site.Example" matches "alice@site.example". Only ASCII letters are folded.
//
// Not decided here: the null sender (the session's rule, RFC 5321 4.5.5 / RFC 8098), and whether
// binding is on at all. default_allowed() is the implicit rule the caller ORs with the map.
// Contract: parse/load throw std::runtime_error (startup and SIGHUP only); lookups never throw,
// never allocate more than the folded address, and are safe to call concurrently.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postern::smtp {

class SenderMap {
 public:
  // True if the map lists `address` (or its domain as "*@domain") for `identity`. An identity
  // missing from the map has no extra addresses (false).
  bool may_send_as(std::string_view identity, std::string_view address) const;

  // The implicit rule: an identity may always send as its own name at any local domain
  // ("alice@site.example" for user alice, local part and domain case-insensitive), and an
  // identity that is itself an address (an AUTH user "alice@example.org") may use it.
  // `local_domains` are the [smtp] domains. The null sender is not decided here.
  static bool default_allowed(std::string_view identity, std::string_view address,
                              std::span<const std::string> local_domains);

  bool contains(std::string_view identity) const { return entries_.contains(std::string(identity)); }
  std::size_t size() const { return entries_.size(); }

 private:
  friend SenderMap parse_sender_map(std::string_view text, std::string_view file_name);

  struct Entry {
    std::vector<std::string> addresses;  // case-folded mailboxes
    std::vector<std::string> domains;    // case-folded, from "*@domain"
    std::size_t line = 0;
  };
  std::unordered_map<std::string, Entry> entries_;  // by identity, exact
};

// Throws std::runtime_error("<file_name>:<line>: <what is wrong>").
SenderMap parse_sender_map(std::string_view text, std::string_view file_name);
// Throws std::runtime_error naming `path` when it cannot be read, else as parse_sender_map.
SenderMap load_sender_map(const std::string& path);

}  // namespace postern::smtp
