// DNS names as the tunnel pushes them to clients (the server's [tunnel] dns_domains, the IPCP
// `domain` attribute, the client's resolver configuration). Shared by the config loader, the
// control-channel decoder and the platform resolver, so all three accept exactly the same text.
// A domain is either a search domain ("site.example": also used to complete short names) or a
// routing-only domain ("~site.example", systemd-resolved's notation: queries under it go to the
// pushed servers, short names are not completed with it).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postern::dns {

constexpr std::size_t kMaxNameLength = 253;  // RFC 1035 2.3.4: 255 octets on the wire, 253 as text
constexpr std::size_t kMaxLabelLength = 63;  // RFC 1035 2.3.4
// Domains one server can push (the IPCP `domain` attribute's count limit, and the config's).
constexpr std::size_t kMaxPushedDomains = 16;

// Labels of 1..63 characters from [A-Za-z0-9-], separated by single dots, 253 characters at
// most, no leading or trailing dot. Single-label names ("corp") are allowed.
bool is_dns_name(std::string_view name);

struct Domain {
  std::string name;           // lower case, without the '~'
  bool routing_only = false;  // written "~name"
  std::string to_string() const { return (routing_only ? "~" : "") + name; }
  friend bool operator==(const Domain&, const Domain&) = default;
};

// "site.example" or "~site.example" (any case; stored lower case). nullopt if not a DNS name.
std::optional<Domain> parse_domain(std::string_view text);

}  // namespace postern::dns
