// The [auth] section and its directory backends, [auth.ldap] and [auth.radius] (see
// config.hpp, docs/directory-auth.md).
#include "common/config_section.hpp"

#include <functional>

namespace postern::config::detail {
namespace {

std::optional<PasswordBackendKind> parse_backend(std::string_view s) {
  for (auto k : {PasswordBackendKind::file, PasswordBackendKind::ldap, PasswordBackendKind::radius}) {
    if (s == to_string(k)) return k;
  }
  return std::nullopt;
}

// An LDAP filter as written by the operator: parenthesised, balanced, placeholders known.
std::optional<std::string> parse_ldap_filter(std::string_view s, bool dn_allowed) {
  if (s.size() < 3 || s.front() != '(' || s.back() != ')') return std::nullopt;
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    if (s[i] == ')' && --depth < 0) return std::nullopt;
    if (s[i] == '%') {
      if (i + 1 >= s.size()) return std::nullopt;
      const char next = s[++i];
      if (next != 'u' && next != '%' && !(dn_allowed && next == 'd')) return std::nullopt;
    }
  }
  if (depth != 0) return std::nullopt;
  return std::string(s);
}

std::optional<std::string> parse_ldap_uri(std::string_view s) {
  for (std::string_view scheme : {"ldaps://", "ldap://"}) {
    if (s.substr(0, scheme.size()) == scheme && s.size() > scheme.size() &&
        s.find_first_of(" \t") == std::string_view::npos)
      return std::string(s);
  }
  return std::nullopt;
}

LdapConfig load_ldap(Section& l) {
  LdapConfig c;
  c.uris = l.required(l.list("uris", "an LDAP URI like \"ldaps://ldap.site.example\" or \"ldap://ldap.site.example\"",
                             parse_ldap_uri),
                      "uris");
  if (c.uris.empty()) l.fail("uris", "at least one LDAP URI is required");
  c.starttls = l.boolean("starttls").value_or(false);
  for (const auto& uri : c.uris) {
    const bool plain = uri.rfind("ldap://", 0) == 0;
    if (plain && !c.starttls)
      l.fail("uris", "\"" + uri + "\" is cleartext: use ldaps:// or set starttls = true (passwords are never sent in the clear)");
    if (!plain && c.starttls) l.fail("starttls", "only for ldap:// URIs (\"" + uri + "\" is already TLS)");
  }
  c.ca = l.path("ca");
  c.base = l.required(l.string("base"), "base");
  c.filter = l.parsed("filter", "an LDAP filter in parentheses using %u, like \"(uid=%u)\"",
                      [](std::string_view v) { return parse_ldap_filter(v, false); })
                 .value_or(c.filter);
  if (c.filter.find("%u") == std::string::npos) l.fail("filter", "must contain %u (the login name)");
  c.bind_dn = l.string("bind_dn");
  c.bind_password_file = l.path("bind_password_file");
  if (c.bind_dn && !c.bind_password_file) l.fail("bind_dn", "bind_password_file is required with bind_dn");
  if (c.bind_password_file && !c.bind_dn) l.fail("bind_password_file", "bind_dn is required with bind_password_file");
  c.group_filter = l.parsed("group_filter", "an LDAP filter in parentheses using %u or %d, like \"(&(cn=vpn)(member=%d))\"",
                            [](std::string_view v) { return parse_ldap_filter(v, true); });
  c.group_base = l.string("group_base");
  if (c.group_base && !c.group_filter) l.fail("group_base", "only used with group_filter");
  c.timeout = l.duration("timeout").value_or(c.timeout);
  if (c.timeout < std::chrono::milliseconds(100) || c.timeout > std::chrono::minutes(2))
    l.fail("timeout", "must be from 100ms to 2m");
  return c;
}

std::function<std::optional<HostPort>(std::string_view)> radius_endpoint(std::uint16_t default_port) {
  return [default_port](std::string_view v) -> std::optional<HostPort> {
    if (is_ip_literal(v)) return HostPort{std::string(v), default_port};  // also a bare IPv6
    auto e = HostPort::parse(v);
    if (e && !e->is_ip_literal()) return std::nullopt;
    return e;
  };
}

RadiusConfig load_radius(Section& r) {
  RadiusConfig c;
  c.servers = r.required(r.list("servers", "a RADIUS server IP, optionally with a port, like \"192.0.2.10\" or \"192.0.2.10:1812\"",
                                radius_endpoint(1812)),
                         "servers");
  if (c.servers.empty()) r.fail("servers", "at least one RADIUS server is required");
  c.secret_file = r.required(r.path("secret_file"), "secret_file");
  c.timeout = r.duration("timeout").value_or(c.timeout);
  if (c.timeout < std::chrono::milliseconds(100) || c.timeout > std::chrono::seconds(60))
    r.fail("timeout", "must be from 100ms to 60s");
  c.tries = static_cast<std::uint32_t>(r.integer("tries", 1, 10).value_or(c.tries));
  c.nas_identifier = r.parsed("nas_identifier", "a name of 1-64 printable characters",
                              [](std::string_view v) -> std::optional<std::string> {
                                if (v.empty() || v.size() > 64) return std::nullopt;
                                for (char ch : v)
                                  if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e) return std::nullopt;
                                return std::string(v);
                              })
                         .value_or(c.nas_identifier);
  c.require_message_authenticator = r.boolean("require_message_authenticator").value_or(c.require_message_authenticator);
  c.accounting = r.boolean("accounting").value_or(false);
  auto acct = r.list("accounting_servers", "a RADIUS accounting server IP, optionally with a port, like \"192.0.2.10:1813\"",
                     radius_endpoint(1813));
  if (acct && !c.accounting) r.fail("accounting_servers", "only used with accounting = true");
  if (acct && acct->empty()) r.fail("accounting_servers", "at least one server (or leave it out for the auth servers on 1813)");
  if (acct) {
    c.accounting_servers = *acct;
  } else {
    for (const auto& s : c.servers) c.accounting_servers.push_back(HostPort{s.host, 1813});
  }
  auto interim = r.duration("interim_interval");
  if (interim && !c.accounting) r.fail("interim_interval", "only used with accounting = true");
  c.interim_interval = interim.value_or(c.interim_interval);
  if (c.interim_interval.count() != 0 && c.interim_interval < std::chrono::seconds(10))
    r.fail("interim_interval", "must be 0 (no interim updates) or at least 10s");
  return c;
}

const toml::table* auth_subtable(Section& s, std::string_view name) {
  const toml::node* n = s.get(name);
  if (!n) return nullptr;
  if (auto t = n->as_table()) return t;
  s.fail(name, "expected an [auth." + std::string(name) + "] section");
}

}  // namespace

AuthConfig load_auth(const Context& ctx, Section& s) {
  AuthConfig c;
  c.backend = s.parsed("backend", "one of \"file\", \"ldap\", \"radius\"", parse_backend).value_or(c.backend);
  const toml::table* lt = auth_subtable(s, "ldap");
  const toml::table* rt = auth_subtable(s, "radius");
  if (lt && c.backend != PasswordBackendKind::ldap) s.fail("ldap", "[auth.ldap] is only read with backend = \"ldap\"");
  if (rt && c.backend != PasswordBackendKind::radius) s.fail("radius", "[auth.radius] is only read with backend = \"radius\"");
  if (c.backend == PasswordBackendKind::ldap) {
    if (!lt) s.fail("backend", "\"ldap\" needs an [auth.ldap] section");
    Section l(ctx, "auth.ldap", lt);
    c.ldap = load_ldap(l);
    l.reject_unknown();
  }
  if (c.backend == PasswordBackendKind::radius) {
    if (!rt) s.fail("backend", "\"radius\" needs an [auth.radius] section");
    Section r(ctx, "auth.radius", rt);
    c.radius = load_radius(r);
    r.reject_unknown();
  }
  return c;
}

}  // namespace postern::config::detail
