// Expiry of certificates and CRLs (see cert_expiry.hpp).
#include "auth/cert_expiry.hpp"

#include "auth/pki.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <ctime>

namespace postern::auth {

std::string_view to_string(ExpiryLevel level) {
  switch (level) {
    case ExpiryLevel::ok: return "ok";
    case ExpiryLevel::warn: return "warn";
    case ExpiryLevel::expired: break;
  }
  return "expired";
}

std::int64_t days_left(std::int64_t end, std::int64_t now) {
  return (end - now) / 86400;  // C++ integer division rounds towards zero
}

ExpiryLevel expiry_level(std::int64_t start, std::int64_t end, std::int64_t now) {
  if (now >= end) return ExpiryLevel::expired;
  std::int64_t window = kExpiryWarnSeconds;
  if (start > 0 && end > start) window = std::min(window, (end - start) / 3);
  return end - now <= window ? ExpiryLevel::warn : ExpiryLevel::ok;
}

std::optional<std::int64_t> to_unix_time(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm));
}

std::string format_utc(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

Expiry named(std::string what, std::string path) {
  Expiry e;
  e.what = std::move(what);
  e.path = std::move(path);
  return e;
}

Expiry finish(Expiry e, std::int64_t now) {
  e.days_left = days_left(e.end, now);
  e.level = expiry_level(e.start, e.end, now);
  return e;
}

}  // namespace

Expiry certificate_expiry(std::string what, std::string path, X509* cert, std::int64_t now) {
  Expiry e = named(std::move(what), std::move(path));
  auto start = to_unix_time(X509_get0_notBefore(cert));
  auto end = to_unix_time(X509_get0_notAfter(cert));
  if (!end) {
    e.error = "cannot read notAfter";
    return e;
  }
  e.start = start.value_or(0);
  e.end = *end;
  return finish(std::move(e), now);
}

Expiry crl_expiry(std::string what, std::string path, X509_CRL* crl, std::int64_t now) {
  Expiry e = named(std::move(what), std::move(path));
  e.start = to_unix_time(X509_CRL_get0_lastUpdate(crl)).value_or(0);
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (next == nullptr) return e;  // no nextUpdate: OpenSSL never calls it expired
  auto end = to_unix_time(next);
  if (!end) {
    e.error = "cannot read nextUpdate";
    return e;
  }
  e.end = *end;
  return finish(std::move(e), now);
}

Expiry certificate_file_expiry(std::string what, const std::filesystem::path& path, std::int64_t now) {
  try {
    auto cert = read_certificate_pem(path);
    return certificate_expiry(std::move(what), path.string(), cert.get(), now);
  } catch (const std::exception& ex) {
    ERR_clear_error();
    Expiry e = named(std::move(what), path.string());
    e.error = ex.what();
    return e;
  }
}

Expiry crl_file_expiry(std::string what, const std::filesystem::path& path, std::int64_t now) {
  try {
    auto crl = read_crl_pem(path);
    return crl_expiry(std::move(what), path.string(), crl.get(), now);
  } catch (const std::exception& ex) {
    ERR_clear_error();
    Expiry e = named(std::move(what), path.string());
    e.error = ex.what();
    return e;
  }
}

Expiry file_expiry(const WatchedFile& file, std::int64_t now) {
  return file.kind == ExpiryKind::crl ? crl_file_expiry(file.what, file.path, now)
                                      : certificate_file_expiry(file.what, file.path, now);
}

std::string describe_expiry(const Expiry& e) {
  if (!e.error.empty()) return "unreadable: " + e.error;
  if (e.end == 0) return "never expires (no nextUpdate)";
  const std::string when = " (" + format_utc(e.end) + ")";
  if (e.level == ExpiryLevel::expired) {
    const std::int64_t ago = -e.days_left;
    if (ago == 0) return "expired less than a day ago" + when;
    return "expired " + std::to_string(ago) + (ago == 1 ? " day ago" : " days ago") + when;
  }
  if (e.days_left == 0) return "expires in less than a day" + when;
  return "expires in " + std::to_string(e.days_left) + (e.days_left == 1 ? " day" : " days") + when;
}

std::optional<ExpiryNotice> expiry_notice(const Expiry& e, ExpiryKind kind, std::string_view client) {
  if (!e.error.empty() || e.level == ExpiryLevel::ok) return std::nullopt;
  const bool expired = e.level == ExpiryLevel::expired;
  const std::filesystem::path path = e.path;
  const std::string dir = path.has_parent_path() ? path.parent_path().string() : std::string("DIR");
  const std::string name = path.empty() ? std::string("NAME") : path.stem().string();
  ExpiryNotice n{e.level, expired ? log::EventName("certificate_expired") : log::EventName("certificate_expires_soon"),
                 ""};
  if (kind == ExpiryKind::ca) {
    n.event = expired ? log::EventName("ca_expired") : log::EventName("ca_expires_soon");
  } else if (kind == ExpiryKind::crl) {
    n.event = expired ? log::EventName("crl_expired") : log::EventName("crl_expires_soon");
  }
  switch (kind) {
    case ExpiryKind::crl:
      n.hint = expired ? "every client certificate is refused (\"CRL has expired\") until it is re-signed: "
                         "postern pki crl " + dir + ", then SIGHUP the server"
                       : "re-sign it before then: postern pki crl " + dir + ", then SIGHUP the server";
      break;
    case ExpiryKind::server_certificate:
      n.hint = "postern pki renew " + dir + " " + name +
               ", then restart the server (clients pinning server_fingerprint need the new one)";
      break;
    case ExpiryKind::ca:
      n.hint = "postern pki renew " + dir + " ca, then give the new ca.pem to every client and server";
      break;
    case ExpiryKind::client_certificate:
      n.hint = "postern pki renew DIR " + (client.empty() ? std::string("NAME") : std::string(client)) +
               " and install the new certificate on that client";
      break;
  }
  return n;
}

std::string verify_error_hint(long verify_error) {
  switch (verify_error) {
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return "the CRL's nextUpdate has passed, so every client certificate is refused: "
             "run postern pki crl DIR on the CA host, copy crl.pem, then SIGHUP the server";
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return "the CRL's lastUpdate is in the future: check this host's clock";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "the client's certificate has expired: postern pki renew DIR NAME and install it on the client";
    default: return "";
  }
}

}  // namespace postern::auth
