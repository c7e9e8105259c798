// LDAP search-then-bind (see ldap_backend.hpp).
#include "auth/ldap_backend.hpp"

#include "auth/ldap_filter.hpp"

#include <ldap.h>

#include <sys/time.h>

#include <string>
#include <vector>

namespace postern::auth {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string describe(LDAP* ld, int rc) {
  std::string out = ldap_err2string(rc);
  char* diagnostic = nullptr;
  if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic) == LDAP_OPT_SUCCESS && diagnostic) {
    if (*diagnostic) out += std::string(" (") + diagnostic + ")";
    ldap_memfree(diagnostic);
  }
  return out;
}

}  // namespace

struct LdapBackend::Connection {
  LDAP* ld = nullptr;
  bool service_bound = false;
  ~Connection() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

LdapBackend::LdapBackend(const config::LdapConfig& config, SecretBytes bind_password)
    : config_(config), bind_password_(std::move(bind_password)) {}

LdapBackend::~LdapBackend() = default;

PasswordVerdict LdapBackend::authenticate(const PasswordRequest& request) const {
  if (request.password.empty()) return PasswordVerdict::rejected("empty password");
  std::lock_guard lock(mutex_);
  bool retry = false;
  PasswordVerdict verdict = attempt(request, &retry);
  if (retry) {  // the reused connection had gone away: one fresh try
    connection_.reset();
    verdict = attempt(request, &retry);
  }
  if (verdict.outcome == PasswordOutcome::temporarily_failed) connection_.reset();
  return verdict;
}

PasswordVerdict LdapBackend::attempt(const PasswordRequest& request, bool* retry) const {
  *retry = false;
  const bool reused = connection_ != nullptr;
  auto unavailable = [&](LDAP* ld, std::string_view what, int rc) {
    if (reused && rc == LDAP_SERVER_DOWN) *retry = true;
    return PasswordVerdict::unavailable(std::string(what) + ": " + describe(ld, rc));
  };
  if (!connection_) {
    auto c = std::make_unique<Connection>();
    std::string uris;
    for (const auto& u : config_.uris) uris += (uris.empty() ? "" : " ") + u;
    int rc = ldap_initialize(&c->ld, uris.c_str());
    if (rc != LDAP_SUCCESS) return PasswordVerdict::unavailable("ldap_initialize: " + std::string(ldap_err2string(rc)));
    const int version = LDAP_VERSION3;
    const timeval tv = to_timeval(config_.timeout);
    const int require = LDAP_OPT_X_TLS_HARD;  // a certificate that does not verify ends the connection
    const int min_tls = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
    ldap_set_option(c->ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_tls);
    if (config_.ca) ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, config_.ca->c_str());
    const int is_server = 0;
    ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);  // the options above take effect
    if (config_.starttls) {
      rc = ldap_start_tls_s(c->ld, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) return PasswordVerdict::unavailable("StartTLS: " + describe(c->ld, rc));
    }
    connection_ = std::move(c);
  }
  LDAP* ld = connection_->ld;
  if (!connection_->service_bound) {
    berval cred{};
    if (config_.bind_dn) {
      cred.bv_val = const_cast<char*>(reinterpret_cast<const char*>(bind_password_.data()));
      cred.bv_len = bind_password_.size();
    }
    const char* dn = config_.bind_dn ? config_.bind_dn->c_str() : "";
    int rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    // A refused service account is the site's configuration, not the user's password.
    if (rc != LDAP_SUCCESS) return unavailable(ld, "service bind as " + std::string(dn), rc);
    connection_->service_bound = true;
  }
  timeval tv = to_timeval(config_.timeout);
  // The user's entry: exactly one, else rejected.
  const std::string filter = expand_filter(config_.filter, request.user);
  char* no_attributes[] = {const_cast<char*>(LDAP_NO_ATTRS), nullptr};
  LDAPMessage* result = nullptr;
  int rc = ldap_search_ext_s(ld, config_.base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), no_attributes, 0, nullptr,
                             nullptr, &tv, 2, &result);
  std::unique_ptr<LDAPMessage, decltype(&ldap_msgfree)> owned(result, &ldap_msgfree);
  if (rc == LDAP_SIZELIMIT_EXCEEDED) return PasswordVerdict::rejected("several entries match " + filter);
  if (rc == LDAP_NO_SUCH_OBJECT) return unavailable(ld, "search base " + config_.base, rc);
  if (rc != LDAP_SUCCESS) return unavailable(ld, "search " + filter, rc);
  const int entries = ldap_count_entries(ld, result);
  if (entries == 0) return PasswordVerdict::rejected("no entry matches " + filter);
  if (entries > 1) return PasswordVerdict::rejected("several entries match " + filter);
  char* dn_text = ldap_get_dn(ld, ldap_first_entry(ld, result));
  if (!dn_text) return PasswordVerdict::unavailable("entry without a DN");
  const std::string dn = dn_text;
  ldap_memfree(dn_text);
  owned.reset();
  if (config_.group_filter) {
    const std::string group = expand_filter(*config_.group_filter, request.user, dn);
    const std::string& group_base = config_.group_base ? *config_.group_base : config_.base;
    LDAPMessage* g = nullptr;
    rc = ldap_search_ext_s(ld, group_base.c_str(), LDAP_SCOPE_SUBTREE, group.c_str(), no_attributes, 0, nullptr,
                           nullptr, &tv, 1, &g);
    std::unique_ptr<LDAPMessage, decltype(&ldap_msgfree)> owned_group(g, &ldap_msgfree);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) return unavailable(ld, "group search " + group, rc);
    if (ldap_count_entries(ld, g) < 1) return PasswordVerdict::rejected(dn + " is not matched by group_filter " + group);
  }
  // The password check itself. After it the connection is bound as the user (or not at all):
  // the service bind is redone before the next search.
  connection_->service_bound = false;
  berval cred{};
  cred.bv_len = request.password.size();
  // The cast drops const for libldap's C signature; it only reads the value.
  cred.bv_val = const_cast<char*>(reinterpret_cast<const char*>(request.password.data()));
  rc = ldap_sasl_bind_s(ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  if (rc == LDAP_INVALID_CREDENTIALS) return PasswordVerdict::rejected("bad password for " + dn);
  if (rc == LDAP_SUCCESS) {
    PasswordVerdict ok = PasswordVerdict::accepted();
    ok.reason = dn;
    return ok;
  }
  if (rc == LDAP_INAPPROPRIATE_AUTH || rc == LDAP_INSUFFICIENT_ACCESS)
    return PasswordVerdict::rejected("bind as " + dn + ": " + describe(ld, rc));
  return unavailable(ld, "bind as " + dn, rc);
}

}  // namespace postern::auth
