// PKI generation with OpenSSL 3 (see pki.hpp).
#include "auth/pki.hpp"

#include "platform/file_replace.hpp"
#include "auth/cert_checks.hpp"
#include "common/host_port.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace postern::auth {
namespace {

[[noreturn]] void fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  std::string detail;
  if (code != 0) {
    std::array<char, 256> buf{};
    ERR_error_string_n(code, buf.data(), buf.size());
    detail = std::string(": ") + buf.data();
  }
  ERR_clear_error();
  throw PkiError(what + detail);
}

bool is_dns_name(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*' || c == '_';
  });
}

// A mail address for an rfc822Name: printable ASCII, one '@' with something on each side, a DNS
// domain, and nothing the OpenSSL extension syntax would read as a separator (',').
bool is_mail_address(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos) return false;
  const bool printable = std::all_of(s.begin(), s.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != ',' && c != '<' && c != '>' && c != '"' && c != '\\';
  });
  const std::string_view domain = s.substr(at + 1);
  return printable && s.size() <= 254 && is_dns_name(domain) && domain.find('*') == std::string_view::npos;
}

std::string key_usage(const CertificateSpec& spec, EVP_PKEY* subject_key) {
  if (spec.is_ca) return "critical,keyCertSign,cRLSign";
  if (spec.emails.empty()) return "critical,digitalSignature";
  // RFC 8550 4.4.2: encryption needs keyEncipherment (RSA key transport) or keyAgreement (ECDH).
  return key_type_of(subject_key) == KeyType::rsa_3072 ? "critical,digitalSignature,keyEncipherment"
                                                        : "critical,digitalSignature,keyAgreement";
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) fail("cannot build extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) fail("cannot add extension");
}

void set_random_serial(X509* cert) {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) fail("RAND_bytes");
  bytes[0] &= 0x7f;  // RFC 5280 4.1.2.2: positive
  bytes[0] |= 0x40;  // and exactly 16 octets long, never zero
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(bytes.data(), bytes.size(), nullptr), &BN_free);
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) fail("serial");
}

void set_common_name(X509_NAME* name, const std::string& cn) {
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                 -1, -1, 0) != 1)
    fail("cannot set CN \"" + cn + "\"");
}

void add_extensions(const CertificateSpec& spec, X509* cert, X509* issuer) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
  add_ext(cert, &ctx, NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(cert, &ctx, NID_key_usage, key_usage(spec, X509_get0_pubkey(cert)));
  add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
  add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  if (!spec.emails.empty()) eku += eku.empty() ? "emailProtection" : ",emailProtection";
  if (!eku.empty()) add_ext(cert, &ctx, NID_ext_key_usage, eku);
  std::string san;
  for (const auto& d : spec.dns_names) {
    if (!is_dns_name(d)) throw PkiError("invalid DNS name \"" + d + "\"");
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  }
  for (const auto& ip : spec.ip_addresses) {
    if (!is_ip_literal(ip)) throw PkiError("invalid IP address \"" + ip + "\"");
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  for (const auto& e : spec.emails) {
    if (!is_mail_address(e)) throw PkiError("invalid mail address \"" + e + "\"");
    san += (san.empty() ? "email:" : ",email:") + e;
  }
  if (!san.empty()) add_ext(cert, &ctx, NID_subject_alt_name, san);
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, decltype(&X509_REVOKED_free)>;
using AsnTimePtr = std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)>;

// lastUpdate is a minute in the past so a verifier with a slightly slow clock accepts it.
AsnTimePtr crl_now() { return AsnTimePtr(X509_gmtime_adj(nullptr, -60), &ASN1_TIME_free); }

RevokedPtr revoked_entry(X509* cert) {
  RevokedPtr r(X509_REVOKED_new(), &X509_REVOKED_free);
  AsnTimePtr now = crl_now();
  if (!r || !now || X509_REVOKED_set_serialNumber(r.get(), X509_get_serialNumber(cert)) != 1 ||
      X509_REVOKED_set_revocationDate(r.get(), now.get()) != 1)
    fail("cannot build a CRL entry");
  return r;
}

// A v2 CRL issued by `ca` holding `entries` (RFC 5280 5.1), valid from now for `days`.
X509CrlPtr build_crl(X509* ca, EVP_PKEY* ca_key, std::vector<RevokedPtr> entries, int days) {
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) fail("X509_CRL_new");
  X509_CRL_set_version(crl.get(), 1);  // v2
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca));
  AsnTimePtr now = crl_now();
  AsnTimePtr next(X509_time_adj_ex(nullptr, days, 0, nullptr), &ASN1_TIME_free);
  X509_CRL_set1_lastUpdate(crl.get(), now.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  for (RevokedPtr& r : entries) {
    if (X509_CRL_add0_revoked(crl.get(), r.get()) != 1) fail("cannot add a CRL entry");
    r.release();  // owned by the CRL now
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) <= 0) fail("CRL signing failed");
  return crl;
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(ASN1_INTEGER_to_BN(serial, nullptr), &BN_free);
  if (!bn) fail("serial");
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) fail("serial");
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// The CA pair of a PKI directory, checked to belong together.
std::pair<X509Ptr, EvpPkeyPtr> read_ca(const std::filesystem::path& dir) {
  auto ca = read_certificate_pem(dir / "ca.pem");
  auto ca_key = read_private_key_pem(dir / "ca.key");
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) fail("ca.key does not match ca.pem");
  return {std::move(ca), std::move(ca_key)};
}
BioPtr mem_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) fail("BIO_new");
  return bio;
}

void check_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.' && name != "ca" &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '@';
            });
  if (!ok) throw PkiError("invalid name \"" + name + "\" (letters, digits, - . _ @; not \"ca\")");
}

void refuse_existing(const std::vector<std::filesystem::path>& paths, bool force) {
  if (force) return;
  for (const auto& p : paths)
    if (std::filesystem::exists(p)) throw PkiError(p.string() + ": exists (use --force to overwrite)");
}

// The entries of DIR/crl.pem (empty when the file does not exist), each with its original
// revocation date (RFC 5280 5.3.2 semantics stay with the entry); a CRL not signed by this CA
// is refused rather than silently replaced.
std::vector<RevokedPtr> read_crl_entries(const std::filesystem::path& crl_path, X509* ca) {
  std::vector<RevokedPtr> entries;
  if (!std::filesystem::exists(crl_path)) return entries;
  auto old = read_crl_pem(crl_path);
  if (X509_CRL_verify(old.get(), X509_get0_pubkey(ca)) != 1) fail(crl_path.string() + ": not signed by ca.pem");
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(old.get());
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    RevokedPtr copy(X509_REVOKED_dup(sk_X509_REVOKED_value(revoked, i)), &X509_REVOKED_free);
    if (!copy) fail("X509_REVOKED_dup");
    entries.push_back(std::move(copy));
  }
  return entries;
}

void check_issued_by(X509* ca, X509* cert, const std::filesystem::path& cert_path) {
  if (X509_check_issued(ca, cert) != X509_V_OK || X509_verify(cert, X509_get0_pubkey(ca)) != 1)
    fail(cert_path.string() + ": not issued by this directory's ca.pem");
}

std::string next_update_text(X509_CRL* crl) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm) != 1) return "";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The lifetime of `cert` in whole days (notBefore is backdated an hour: rounded).
int lifetime_days(X509* cert) {
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) != 1) return 825;
  return std::max(1, days + (seconds >= 43200 ? 1 : 0));
}

// `old`'s subject and extensions on a new serial and validity for `key`, signed by `issuer` (or
// self-signed when issuer is nullptr). The key identifiers are recomputed for the (maybe new) key.
X509Ptr resign_like(X509* old, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, int days) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // as make_certificate
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr);
  if (X509_set_subject_name(cert.get(), X509_get_subject_name(old)) != 1) fail("subject name");
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get())) != 1) fail("issuer name");
  if (X509_set_pubkey(cert.get(), key) != 1) fail("public key");
  for (int i = 0; i < X509_get_ext_count(old); ++i) {
    X509_EXTENSION* ext = X509_get_ext(old, i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
    if (nid == NID_subject_key_identifier || nid == NID_authority_key_identifier) continue;
    if (X509_add_ext(cert.get(), ext, -1) != 1) fail("cannot copy extension");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), issuer ? issuer_key : key, EVP_sha256()) <= 0) fail("signing failed");
  return cert;
}

bool has_server_auth(X509* cert) {
  return (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0 && (X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) != 0;
}

}  // namespace

EvpPkeyPtr generate_ec_p256_key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("EC P-256 key generation failed");
  return key;
}

EvpPkeyPtr generate_key(KeyType type) {
  if (type == KeyType::ec_p256) return generate_ec_p256_key();
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072)));
  if (!key) fail("RSA 3072 key generation failed");
  return key;
}

KeyType key_type_of(EVP_PKEY* key) {
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? KeyType::rsa_3072 : KeyType::ec_p256;
}

std::string pkcs12_bundle(X509* cert, EVP_PKEY* key, X509* ca, const std::string& friendly_name,
                          const SecretBytes& password) {
  if (password.empty()) throw PkiError("an empty PKCS#12 password is refused");
  // PKCS12_create wants a C string; the copy is wiped with the SecretBytes it lives in.
  SecretBytes pass(password.size() + 1);
  std::copy(password.span().begin(), password.span().end(), pass.data());
  const char* pw = reinterpret_cast<const char*>(pass.data());
  struct ChainDeleter {
    void operator()(STACK_OF(X509)* s) const { sk_X509_free(s); }  // the certificates are not owned
  };
  std::unique_ptr<STACK_OF(X509), ChainDeleter> chain(sk_X509_new_null());
  if (!chain || sk_X509_push(chain.get(), ca) <= 0) fail("cannot build the certificate chain");
  constexpr int kIterations = 2048;  // OpenSSL 3's PKCS12_DEFAULT_ITER
  // mac_iter -1: no MAC here; PKCS12_set_mac below adds one with SHA-256 named explicitly.
  std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(
      PKCS12_create(pw, friendly_name.c_str(), key, cert, chain.get(), NID_aes_256_cbc, NID_aes_256_cbc,
                    kIterations, -1, 0),
      &PKCS12_free);
  if (!p12) fail("PKCS12_create");
  if (PKCS12_set_mac(p12.get(), pw, -1, nullptr, 0, kIterations, EVP_sha256()) != 1) fail("PKCS12_set_mac");
  auto bio = mem_bio();
  if (i2d_PKCS12_bio(bio.get(), p12.get()) != 1) fail("i2d_PKCS12_bio");
  return bio_to_string(bio.get());
}

X509Ptr make_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                         EVP_PKEY* issuer_key) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  set_random_serial(cert.get());
  // Backdate a little so a client with a slightly slow clock accepts a fresh certificate.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_time_adj_ex(X509_getm_notAfter(cert.get()), spec.days, 0, nullptr);
  set_common_name(X509_get_subject_name(cert.get()), spec.common_name);
  X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) fail("issuer name");
  if (X509_set_pubkey(cert.get(), subject_key) != 1) fail("public key");
  add_extensions(spec, cert.get(), issuer);
  EVP_PKEY* signer = issuer ? issuer_key : subject_key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) fail("signing failed");
  return cert;
}

X509CrlPtr make_crl(X509* ca, EVP_PKEY* ca_key, const std::vector<X509*>& revoked, int days) {
  std::vector<RevokedPtr> entries;
  for (X509* cert : revoked) entries.push_back(revoked_entry(cert));
  return build_crl(ca, ca_key, std::move(entries), days);
}

void add_subject_alt_names(CertificateSpec& spec, const std::vector<std::string>& names) {
  for (const auto& n : names) (is_ip_literal(n) ? spec.ip_addresses : spec.dns_names).push_back(n);
}

std::string certificate_pem(X509* cert) {
  auto bio = mem_bio();
  if (PEM_write_bio_X509(bio.get(), cert) != 1) fail("PEM_write_bio_X509");
  return bio_to_string(bio.get());
}

std::string crl_pem(X509_CRL* crl) {
  auto bio = mem_bio();
  if (PEM_write_bio_X509_CRL(bio.get(), crl) != 1) fail("PEM_write_bio_X509_CRL");
  return bio_to_string(bio.get());
}

SecretBytes private_key_pem(EVP_PKEY* key) {
  auto bio = mem_bio();
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  SecretBytes out(std::string_view(data, static_cast<std::size_t>(len)));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return out;
}

X509CrlPtr read_crl_pem(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  if (!bio) fail(path.string() + ": cannot open");
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) fail(path.string() + ": no PEM CRL");
  return crl;
}

X509Ptr read_certificate_pem(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  if (!bio) fail(path.string() + ": cannot open");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail(path.string() + ": no PEM certificate");
  return cert;
}

EvpPkeyPtr read_private_key_pem(const std::filesystem::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  if (!bio) fail(path.string() + ": cannot open");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail(path.string() + ": no PEM private key");
  return key;
}

void write_file(const std::filesystem::path& path, std::string_view data, unsigned mode, bool force) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    if (errno == EEXIST) throw PkiError(path.string() + ": exists (use --force to overwrite)");
    throw PkiError(path.string() + ": " + std::strerror(errno));
  }
  // With --force the file may have existed with a wider mode.
  bool ok = ::fchmod(fd, mode) == 0;
  for (std::size_t off = 0; ok && off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) throw PkiError(path.string() + ": write failed: " + std::strerror(saved));
}

void pki_init(const std::filesystem::path& dir, const PkiInitOptions& options) {
  if (options.server_names.empty()) throw PkiError("at least one --server-name is required");
  std::filesystem::create_directories(dir);
  refuse_existing({dir / "ca.pem", dir / "ca.key", dir / "server.pem", dir / "server.key"}, options.force);
  auto ca_key = generate_ec_p256_key();
  CertificateSpec ca_spec{options.ca_name, {}, {}, options.ca_days, true, false, false};
  auto ca = make_certificate(ca_spec, ca_key.get(), nullptr, nullptr);
  auto server_key = generate_ec_p256_key();
  CertificateSpec server_spec{options.server_names.front(), {}, {}, options.days, false, true, false};
  add_subject_alt_names(server_spec, options.server_names);
  auto server = make_certificate(server_spec, server_key.get(), ca.get(), ca_key.get());
  write_file(dir / "ca.key", private_key_pem(ca_key.get()).view(), 0600, options.force);
  write_file(dir / "ca.pem", certificate_pem(ca.get()), 0644, options.force);
  write_file(dir / "server.key", private_key_pem(server_key.get()).view(), 0600, options.force);
  write_file(dir / "server.pem", certificate_pem(server.get()), 0644, options.force);
}

void pki_issue(const std::filesystem::path& dir, const std::string& name, const PkiIssueOptions& options) {
  check_name(name);
  if (options.server && !options.email.empty()) throw PkiError("--email is for user certificates, not with --server");
  if (options.p12_password != nullptr && options.email.empty()) throw PkiError("a PKCS#12 bundle needs --email");
  const std::filesystem::path p12_path = dir / (name + ".p12");
  std::vector<std::filesystem::path> targets{dir / (name + ".pem"), dir / (name + ".key")};
  if (options.p12_password != nullptr) targets.push_back(p12_path);
  refuse_existing(targets, options.force);
  auto [ca, ca_key] = read_ca(dir);
  auto key = generate_key(options.key_type);
  CertificateSpec spec{name, {}, {}, options.days, false, options.server, !options.server};
  if (options.server && options.alt_names.empty()) add_subject_alt_names(spec, {name});
  add_subject_alt_names(spec, options.alt_names);
  if (!options.email.empty()) spec.emails.push_back(options.email);
  auto cert = make_certificate(spec, key.get(), ca.get(), ca_key.get());
  std::string p12;
  if (options.p12_password != nullptr) p12 = pkcs12_bundle(cert.get(), key.get(), ca.get(), options.email, *options.p12_password);
  write_file(dir / (name + ".key"), private_key_pem(key.get()).view(), 0600, options.force);
  write_file(dir / (name + ".pem"), certificate_pem(cert.get()), 0644, options.force);
  if (!p12.empty()) write_file(p12_path, p12, 0600, options.force);
}

std::vector<std::string> crl_serials(X509_CRL* crl) {
  std::vector<std::string> out;
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    out.push_back(serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
  }
  return out;
}

// An existing file keeps its owner, group and mode (at most max_mode), so a daemon that re-reads
// it as its run-as user at SIGHUP still can; a new one is ours with new_mode.
void replace_file(const std::filesystem::path& path, std::string_view data, unsigned new_mode, unsigned max_mode) {
  platform::FileOwnership ownership = platform::own_ownership(static_cast<mode_t>(new_mode));
  if (auto existing = platform::ownership_of(path)) {
    ownership = *existing;
    ownership.mode &= static_cast<mode_t>(max_mode);
  }
  try {
    platform::replace_file(path, data, ownership);
  } catch (const std::system_error& e) {
    throw PkiError(e.what());
  }
}

PkiRevokeResult pki_revoke(const std::filesystem::path& dir, const std::string& name,
                           const PkiRevokeOptions& options) {
  check_name(name);
  auto [ca, ca_key] = read_ca(dir);
  auto cert = read_certificate_pem(dir / (name + ".pem"));
  check_issued_by(ca.get(), cert.get(), dir / (name + ".pem"));
  PkiRevokeResult result;
  result.serial = serial_hex(X509_get_serialNumber(cert.get()));
  const std::filesystem::path crl_path = dir / "crl.pem";
  std::vector<RevokedPtr> entries = read_crl_entries(crl_path, ca.get());
  for (const auto& r : entries) {
    if (serial_hex(X509_REVOKED_get0_serialNumber(r.get())) == result.serial) result.already_revoked = true;
  }
  if (!result.already_revoked) entries.push_back(revoked_entry(cert.get()));
  result.revoked_count = entries.size();
  // Re-signed even when nothing was added: that also renews nextUpdate.
  auto crl = build_crl(ca.get(), ca_key.get(), std::move(entries), options.days);
  replace_file(crl_path, crl_pem(crl.get()), 0644, 0644);
  return result;
}

PkiCrlResult pki_crl(const std::filesystem::path& dir, const PkiCrlOptions& options) {
  if (options.days < 1) throw PkiError("--days must be at least 1");
  auto [ca, ca_key] = read_ca(dir);
  const std::filesystem::path crl_path = dir / "crl.pem";
  PkiCrlResult result;
  result.created = !std::filesystem::exists(crl_path);
  std::vector<RevokedPtr> entries = read_crl_entries(crl_path, ca.get());
  result.revoked_count = entries.size();
  auto crl = build_crl(ca.get(), ca_key.get(), std::move(entries), options.days);
  result.next_update = next_update_text(crl.get());
  replace_file(crl_path, crl_pem(crl.get()), 0644, 0644);
  return result;
}

PkiRenewResult pki_renew(const std::filesystem::path& dir, const std::string& name, const PkiRenewOptions& options) {
  PkiRenewResult result;
  result.ca = name == "ca";
  if (!result.ca) check_name(name);
  if (result.ca && options.new_key)
    throw PkiError("--new-key is refused for the CA: every certificate it issued would stop verifying");
  if (options.days < 0) throw PkiError("--days must be positive");
  auto [ca, ca_key] = read_ca(dir);
  const std::filesystem::path pem = dir / (name + ".pem"), key_path = dir / (name + ".key");
  auto old = read_certificate_pem(pem);
  if (!result.ca) check_issued_by(ca.get(), old.get(), pem);
  EvpPkeyPtr key = result.ca ? std::move(ca_key) : read_private_key_pem(key_path);
  if (X509_check_private_key(old.get(), key.get()) != 1) fail(key_path.string() + " does not match " + pem.string());
  // The key usage copied from the old certificate fits its key type, so a new key keeps the type.
  if (options.new_key) key = generate_key(key_type_of(key.get()));
  result.days = options.days > 0 ? options.days : lifetime_days(old.get());
  // The CA signs itself (ca_key moved into key above); anything else is signed by the CA.
  X509Ptr cert = result.ca ? resign_like(old.get(), key.get(), nullptr, nullptr, result.days)
                           : resign_like(old.get(), key.get(), ca.get(), ca_key.get(), result.days);
  result.old_fingerprint = fingerprint(old.get());
  result.new_fingerprint = fingerprint(cert.get());
  result.server = has_server_auth(cert.get());
  result.new_key = options.new_key;
  std::tm tm{};
  char buf[32] = "";
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) == 1) std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  result.not_after = buf;
  // The key first: a certificate never names a key that is not on disk yet.
  if (options.new_key) replace_file(key_path, private_key_pem(key.get()).view(), 0600, 0640);
  replace_file(pem, certificate_pem(cert.get()), 0644, 0644);
  return result;
}

}  // namespace postern::auth
