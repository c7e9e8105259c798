// PKI generation with OpenSSL 3 (see pki.hpp).
#include "tunnel/auth/pki.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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

namespace postern::tunnel::auth {
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

bool is_ip_literal(const std::string& s) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, s.c_str(), buf.data()) == 1 || inet_pton(AF_INET6, s.c_str(), buf.data()) == 1;
}

bool is_dns_name(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*' || c == '_';
  });
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
  add_ext(cert, &ctx, NID_key_usage,
          spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(cert, &ctx, NID_subject_key_identifier, "hash");
  add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  std::string eku;
  if (spec.server_auth) eku = "serverAuth";
  if (spec.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
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
  if (!san.empty()) add_ext(cert, &ctx, NID_subject_alt_name, san);
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
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

}  // namespace

EvpPkeyPtr generate_ec_p256_key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("EC P-256 key generation failed");
  return key;
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
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) fail("X509_CRL_new");
  X509_CRL_set_version(crl.get(), 1);  // v2
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca));
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> now(X509_gmtime_adj(nullptr, -60), &ASN1_TIME_free);
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> next(
      X509_time_adj_ex(nullptr, days, 0, nullptr), &ASN1_TIME_free);
  X509_CRL_set1_lastUpdate(crl.get(), now.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  for (X509* cert : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(cert));
    X509_REVOKED_set_revocationDate(r, now.get());
    X509_CRL_add0_revoked(crl.get(), r);
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) <= 0) fail("CRL signing failed");
  return crl;
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
  refuse_existing({dir / (name + ".pem"), dir / (name + ".key")}, options.force);
  auto ca = read_certificate_pem(dir / "ca.pem");
  auto ca_key = read_private_key_pem(dir / "ca.key");
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) fail("ca.key does not match ca.pem");
  auto key = generate_ec_p256_key();
  CertificateSpec spec{name, {}, {}, options.days, false, options.server, !options.server};
  if (options.server && options.alt_names.empty()) add_subject_alt_names(spec, {name});
  add_subject_alt_names(spec, options.alt_names);
  auto cert = make_certificate(spec, key.get(), ca.get(), ca_key.get());
  write_file(dir / (name + ".key"), private_key_pem(key.get()).view(), 0600, options.force);
  write_file(dir / (name + ".pem"), certificate_pem(cert.get()), 0644, options.force);
}

}  // namespace postern::tunnel::auth
