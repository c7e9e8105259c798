// A small PKI for postern deployments: an EC P-256 CA, server and client certificates (X.509 v3,
// SHA-256, random 128-bit serials), and CRLs. A client certificate with mail addresses is also an
// S/MIME certificate (RFC 8550 4.4: emailProtection, rfc822Name SANs, the key usage its key type
// needs), optionally EC P-256 or RSA 3072, with a PKCS#12 bundle for mail clients. Used by `postern pki init|issue|revoke|renew|crl`, the
// daemon tests and the demo. Contract: in-memory functions throw PkiError on OpenSSL failures; file
// functions write private keys with mode 0600 (created that way, never widened) and refuse to
// overwrite an existing file unless `force` is set. init checks every target before writing any of
// them. revoke, renew and crl replace files the daemon re-reads as its run-as user: they write a
// temp file and rename it, keeping the old file's owner, group and mode (replace_file()).
#pragma once

#include "common/secret.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::auth {

class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Deleter {
  void operator()(X509* c) const { X509_free(c); }
};
struct X509CrlDeleter {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlDeleter>;

EvpPkeyPtr generate_ec_p256_key();

// RSA 3072 is for mail clients that take no EC S/MIME keys; the tunnel accepts both.
enum class KeyType { ec_p256, rsa_3072 };
EvpPkeyPtr generate_key(KeyType type);
KeyType key_type_of(EVP_PKEY* key);  // rsa_3072 for any RSA key, else ec_p256

struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries (IPv4 or IPv6)
  int days = 825;
  bool is_ca = false;
  bool server_auth = false;  // extendedKeyUsage serverAuth
  bool client_auth = false;  // extendedKeyUsage clientAuth
  // subjectAltName rfc822Name entries; when not empty, also extendedKeyUsage emailProtection and
  // keyUsage digitalSignature + keyEncipherment (RSA) or keyAgreement (EC), RFC 8550 4.4.2.
  std::vector<std::string> emails{};
};

// Signs a certificate for `subject_key`. issuer == nullptr makes it self-signed (by
// subject_key); otherwise it is signed by issuer_key under issuer's name.
X509Ptr make_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                         EVP_PKEY* issuer_key);
// A CRL by `ca` listing `revoked`, valid for `days`.
X509CrlPtr make_crl(X509* ca, EVP_PKEY* ca_key, const std::vector<X509*>& revoked, int days = 30);

// Splits names into SAN DNS names and IP literals (a name that parses as an IP is an IP).
void add_subject_alt_names(CertificateSpec& spec, const std::vector<std::string>& names);

std::string certificate_pem(X509* cert);
std::string crl_pem(X509_CRL* crl);
SecretBytes private_key_pem(EVP_PKEY* key);  // unencrypted PKCS#8
X509Ptr read_certificate_pem(const std::filesystem::path& path);
X509CrlPtr read_crl_pem(const std::filesystem::path& path);  // the first CRL in the file
// The serial numbers a CRL lists, as upper-case hex (BN_bn2hex form, e.g. "4A3F...").
std::vector<std::string> crl_serials(X509_CRL* crl);
EvpPkeyPtr read_private_key_pem(const std::filesystem::path& path);

// A PKCS#12 (RFC 7292) bundle of key, certificate and CA as OpenSSL 3 makes it by default and
// current mail clients import: key and certificates in PBES2 (PBKDF2 with HMAC-SHA-256,
// AES-256-CBC), an HMAC-SHA-256 MAC, 2048 iterations each. The password must not be empty.
std::string pkcs12_bundle(X509* cert, EVP_PKEY* key, X509* ca, const std::string& friendly_name,
                          const SecretBytes& password);

// Writes `data` to `path` with `mode`, created O_EXCL unless force. Throws PkiError.
void write_file(const std::filesystem::path& path, std::string_view data, unsigned mode, bool force);

// Atomically replaces (or creates) `path`: a temp file beside it, fsync, rename. An existing file
// keeps its owner, group and mode (the mode capped at `max_mode`); a new one gets `new_mode` and
// the caller's ownership. Only root can keep another owner; anyone else keeps their own (EPERM
// from fchown is ignored). Throws PkiError; a failed write leaves the old file untouched.
void replace_file(const std::filesystem::path& path, std::string_view data, unsigned new_mode, unsigned max_mode);

struct PkiInitOptions {
  std::vector<std::string> server_names;  // DNS names or IPs; at least one
  std::string ca_name = "postern CA";
  int ca_days = 3650;
  int days = 825;
  bool force = false;
};
// DIR/ca.pem, ca.key, server.pem, server.key (creates DIR if needed).
void pki_init(const std::filesystem::path& dir, const PkiInitOptions& options);

struct PkiIssueOptions {
  int days = 825;
  bool server = false;                    // serverAuth + SAN (name itself unless alt_names set)
  std::vector<std::string> alt_names;     // extra SAN DNS names or IPs
  bool force = false;
  std::string email;                      // S/MIME: rfc822Name SAN + emailProtection (not with server)
  KeyType key_type = KeyType::ec_p256;
  const SecretBytes* p12_password = nullptr;  // with email: also write DIR/NAME.p12 under it
};
// DIR/NAME.pem, DIR/NAME.key signed by DIR/ca.pem + DIR/ca.key. A client certificate
// (clientAuth, CN=NAME) unless options.server; with an email also an S/MIME one, and with a
// password DIR/NAME.p12 (mode 0600): key, certificate and CA for a mail client to import.
void pki_issue(const std::filesystem::path& dir, const std::string& name, const PkiIssueOptions& options);

struct PkiRevokeOptions {
  int days = 30;  // nextUpdate of the re-signed CRL: re-run revoke (or any revoke) before then
};
struct PkiRevokeResult {
  std::string serial;            // the revoked certificate's serial, upper-case hex
  bool already_revoked = false;  // it was listed before (the CRL is re-signed anyway)
  std::size_t revoked_count = 0;  // entries in the new CRL
};
// Adds DIR/NAME.pem's serial to DIR/crl.pem (created if missing), keeping earlier entries, and
// re-signs it with DIR/ca.key. Refuses a NAME.pem not issued by DIR/ca.pem and an existing
// crl.pem not signed by it. The new file replaces the old one atomically (rename).
PkiRevokeResult pki_revoke(const std::filesystem::path& dir, const std::string& name,
                           const PkiRevokeOptions& options = {});

struct PkiRenewOptions {
  int days = 0;          // 0: the lifetime of the certificate being renewed
  bool new_key = false;  // generate a fresh key (refused for "ca": every issued certificate would break)
};
struct PkiRenewResult {
  std::string old_fingerprint, new_fingerprint;  // SHA-256, "AB:CD:..."
  std::string not_after;                         // of the new certificate, "2029-03-01T12:00:00Z"
  int days = 0;                                  // its lifetime
  bool server = false;                           // serverAuth (a server certificate)
  bool ca = false;                               // NAME was "ca"
  bool new_key = false;
};
// A new DIR/NAME.pem with the subject and extensions (SANs, key usage, extended key usage) of
// the current one, a new serial and validity, signed by DIR/ca.key, for the key in DIR/NAME.key
// (or a new one, replacing NAME.key). NAME "ca" renews the self-signed CA with its own key:
// certificates it issued still verify against the renewed ca.pem (same subject and key). Refuses
// a NAME.pem not issued by DIR/ca.pem and a NAME.key that does not match it. The old certificate
// stays valid until it expires or is revoked; the fingerprint changes with every renewal.
PkiRenewResult pki_renew(const std::filesystem::path& dir, const std::string& name, const PkiRenewOptions& options = {});

struct PkiCrlOptions {
  int days = 30;  // nextUpdate
};
struct PkiCrlResult {
  bool created = false;           // there was no crl.pem
  std::size_t revoked_count = 0;  // entries kept
  std::string next_update;        // "2027-01-02T11:00:00Z"
};
// Re-signs DIR/crl.pem with the same entries (revocation dates kept) and a fresh lastUpdate and
// nextUpdate, or writes an empty CRL when there is none. Refuses a crl.pem not signed by DIR/ca.pem.
PkiCrlResult pki_crl(const std::filesystem::path& dir, const PkiCrlOptions& options = {});

}  // namespace postern::auth
