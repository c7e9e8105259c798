// How long a certificate or CRL has left, and whether that deserves a warning: pure functions of
// the object's own times and `now` (unix seconds), so tests inject the clock. Used by the daemons'
// periodic check (logs), `postern status` and `postern pki crl|renew` (what they print).
// The rule, for a certificate (notBefore..notAfter) and a CRL (lastUpdate..nextUpdate) alike:
//   expired  once now >= end (OpenSSL then refuses it: "certificate has expired", "CRL has expired");
//   warn     when at most min(30 days, a third of its lifetime) is left, so an 825-day certificate
//            warns 30 days out and a fresh default CRL (30 days) 10 days out, not at once;
//   ok       otherwise.
// days_left counts whole days, rounded towards zero: 0 is "less than a day" either side of the
// end (the level tells which), -3 is "3 whole days ago".
// Contract: no I/O except the *_file() readers, which never throw (the error goes into the result).
#pragma once

#include "common/log.hpp"

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace postern::auth {

inline constexpr std::int64_t kExpiryWarnSeconds = 30 * 86400;

enum class ExpiryLevel { ok, warn, expired };
std::string_view to_string(ExpiryLevel level);  // "ok", "warn", "expired"

// (end - now) / 86400, rounded towards zero.
std::int64_t days_left(std::int64_t end, std::int64_t now);
// The rule above; start may be 0 when unknown (the 30-day window applies then).
ExpiryLevel expiry_level(std::int64_t start, std::int64_t end, std::int64_t now);

// ASN1_TIME as unix seconds; nullopt when it cannot be read.
std::optional<std::int64_t> to_unix_time(const ASN1_TIME* time);
// "2027-03-01T12:00:00Z".
std::string format_utc(std::int64_t unix_seconds);

struct Expiry {
  std::string what;       // "tunnel certificate", "client CA", "CRL", "smtp certificate", ...
  std::string path;       // the file it came from ("" for a peer's certificate)
  std::int64_t start = 0;  // notBefore / lastUpdate
  std::int64_t end = 0;    // notAfter / nextUpdate
  std::int64_t days_left = 0;
  ExpiryLevel level = ExpiryLevel::ok;
  std::string error;  // set when the file could not be read: the other fields are then unset
};

Expiry certificate_expiry(std::string what, std::string path, X509* cert, std::int64_t now);
// A CRL without nextUpdate never expires for OpenSSL: reported ok with end = 0.
Expiry crl_expiry(std::string what, std::string path, X509_CRL* crl, std::int64_t now);
// The first certificate / CRL in a PEM file.
Expiry certificate_file_expiry(std::string what, const std::filesystem::path& path, std::int64_t now);
Expiry crl_file_expiry(std::string what, const std::filesystem::path& path, std::int64_t now);

// One line for logs and CLI output: "expires in 12 days (2027-03-01T12:00:00Z)",
// "expired 3 days ago (...)", "expires in less than a day (...)".
std::string describe_expiry(const Expiry& e);

// A file a daemon uses and watches: its own certificate, a CA it trusts, a CRL.
enum class ExpiryKind { server_certificate, ca, crl, client_certificate };
struct WatchedFile {
  std::string what;  // "tunnel certificate", "client CA", "CRL", ...
  std::filesystem::path path;
  ExpiryKind kind;
};
Expiry file_expiry(const WatchedFile& file, std::int64_t now);

// What an operator is told about an Expiry that is not ok (nullopt for ok): the event, and the
// command that fixes it, naming the PKI directory (the file's directory) and certificate name
// (its stem) when there is a path; `client` names the certificate of a client_certificate.
struct ExpiryNotice {
  ExpiryLevel level;  // warn or expired (log it as an error)
  log::EventName event;  // certificate_/ca_/crl_ + expires_soon or expired, by kind
  std::string hint;
};
std::optional<ExpiryNotice> expiry_notice(const Expiry& e, ExpiryKind kind, std::string_view client = {});

// The hint for a client refused with OpenSSL verify error `verify_error` (X509_V_ERR_*): for an
// expired CRL, that every client certificate is refused until it is re-signed, and how; for an
// expired certificate, to renew it; "" for other errors.
std::string verify_error_hint(long verify_error);

}  // namespace postern::auth
