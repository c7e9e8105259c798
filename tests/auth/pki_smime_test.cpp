// S/MIME certificates from the PKI (`pki issue --email`): the extensions RFC 8550 4.4 asks for,
// per key type; the PKCS#12 bundle opened by the real `openssl pkcs12` with the algorithms a
// current mail client imports (AES-256-CBC under PBKDF2/HMAC-SHA-256, a SHA-256 MAC), and
// refused with a wrong password; bad addresses refused; renewing keeps the key type.
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> emails_in_san(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_EMAIL) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.rfc822Name)),
                       static_cast<std::size_t>(ASN1_STRING_length(n->d.rfc822Name)));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

int verify_for(X509* ca, X509* leaf, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

// Runs a shell command, returning its exit status and combined output.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class PkiSmime : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern_pki_smime_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    pki_init(dir_, {{"vpn.example.org"}});
    ca_ = read_certificate_pem(dir_ / "ca.pem");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static unsigned mode(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  fs::path dir_;
  X509Ptr ca_;
};

TEST_F(PkiSmime, EcEmailCertificateHasSmimeExtensions) {
  PkiIssueOptions o;
  o.email = "alice@example.org";
  pki_issue(dir_, "alice", o);
  auto cert = read_certificate_pem(dir_ / "alice.pem");
  EXPECT_EQ(emails_in_san(cert.get()), std::vector<std::string>{"alice@example.org"});
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), std::uint32_t{XKU_SSL_CLIENT | XKU_SMIME});
  ASSERT_NE(X509_get_extension_flags(cert.get()) & EXFLAG_KUSAGE, 0u);
  EXPECT_EQ(X509_get_key_usage(cert.get()), std::uint32_t{KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT});
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(cert.get())), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_email(cert.get(), "alice@example.org", 0, 0), 1);
  // Fit for S/MIME signing and encryption, and still for the tunnel.
  EXPECT_EQ(verify_for(ca_.get(), cert.get(), X509_PURPOSE_SMIME_SIGN), X509_V_OK);
  EXPECT_EQ(verify_for(ca_.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  // (OpenSSL's smime_encrypt purpose asks for keyEncipherment, i.e. RSA key transport; an EC key
  // encrypts by key agreement, RFC 5753, which the CMS test round-trips.)
  EXPECT_FALSE(fs::exists(dir_ / "alice.p12"));  // no password given: no bundle
}

TEST_F(PkiSmime, RsaEmailCertificateUsesKeyEncipherment) {
  PkiIssueOptions o;
  o.email = "bob@example.org";
  o.key_type = KeyType::rsa_3072;
  pki_issue(dir_, "bob", o);
  auto cert = read_certificate_pem(dir_ / "bob.pem");
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(cert.get())), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(cert.get())), 3072);
  EXPECT_EQ(X509_get_key_usage(cert.get()), std::uint32_t{KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT});
  EXPECT_EQ(emails_in_san(cert.get()), std::vector<std::string>{"bob@example.org"});
  EXPECT_NE(X509_get_extended_key_usage(cert.get()) & XKU_SMIME, 0u);
  EXPECT_EQ(verify_for(ca_.get(), cert.get(), X509_PURPOSE_SMIME_ENCRYPT), X509_V_OK);

  // A renewal with a new key keeps the key type, so the copied key usage still fits.
  PkiRenewOptions renew;
  renew.new_key = true;
  pki_renew(dir_, "bob", renew);
  auto renewed = read_certificate_pem(dir_ / "bob.pem");
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(renewed.get())), EVP_PKEY_RSA);
  EXPECT_EQ(emails_in_san(renewed.get()), std::vector<std::string>{"bob@example.org"});
}

TEST_F(PkiSmime, ClientCertificateWithoutEmailIsNotForSmime) {
  pki_issue(dir_, "laptop", {});
  auto cert = read_certificate_pem(dir_ / "laptop.pem");
  EXPECT_TRUE(emails_in_san(cert.get()).empty());
  EXPECT_EQ(X509_get_key_usage(cert.get()), std::uint32_t{KU_DIGITAL_SIGNATURE});
  EXPECT_NE(verify_for(ca_.get(), cert.get(), X509_PURPOSE_SMIME_SIGN), X509_V_OK);
}

TEST_F(PkiSmime, Pkcs12OpensWithOpensslAndTheRightAlgorithms) {
  const SecretBytes password(std::string_view("p12 secret"));
  PkiIssueOptions o;
  o.email = "carol@example.org";
  o.p12_password = &password;
  pki_issue(dir_, "carol", o);
  const fs::path p12 = dir_ / "carol.p12";
  ASSERT_TRUE(fs::exists(p12));
  EXPECT_EQ(mode(p12), 0600u);

  auto [rc, out] = run("openssl pkcs12 -info -noout -in '" + p12.string() + "' -passin 'pass:p12 secret'");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("MAC: sha256"), std::string::npos) << out;
  EXPECT_NE(out.find("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"), std::string::npos) << out;
  EXPECT_NE(out.find("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"), std::string::npos) << out;
  EXPECT_NE(out.find("PRF hmacWithSHA256"), std::string::npos) << out;

  // The bundle holds the key, the certificate and the CA, in PEM as openssl writes them out.
  auto [rc2, pem] = run("openssl pkcs12 -in '" + p12.string() + "' -passin 'pass:p12 secret' -nodes");
  EXPECT_EQ(rc2, 0) << pem;
  EXPECT_NE(pem.find("friendlyName: carol@example.org"), std::string::npos) << pem;
  EXPECT_NE(pem.find("subject=CN = carol"), std::string::npos) << pem;
  EXPECT_NE(pem.find("subject=CN = postern CA"), std::string::npos) << pem;
  EXPECT_NE(pem.find("-----BEGIN PRIVATE KEY-----"), std::string::npos);

  auto [bad_rc, bad_out] = run("openssl pkcs12 -info -noout -in '" + p12.string() + "' -passin pass:wrong");
  EXPECT_NE(bad_rc, 0) << bad_out;
}

TEST_F(PkiSmime, BadRequestsAreRefusedBeforeWriting) {
  const SecretBytes password(std::string_view("x"));
  PkiIssueOptions o;
  for (const char* bad : {"no-at-sign", "a@b@c", "@example.org", "a,DNS:evil.example@example.org", "a@exa mple.org",
                          "a@"}) {
    o.email = bad;
    EXPECT_THROW(pki_issue(dir_, "eve", o), PkiError) << bad;
  }
  o.email = "eve@example.org";
  o.server = true;
  EXPECT_THROW(pki_issue(dir_, "eve", o), PkiError);
  PkiIssueOptions no_email;
  no_email.p12_password = &password;
  EXPECT_THROW(pki_issue(dir_, "eve", no_email), PkiError);
  const SecretBytes empty;
  PkiIssueOptions empty_pw;
  empty_pw.email = "eve@example.org";
  empty_pw.p12_password = &empty;
  EXPECT_THROW(pki_issue(dir_, "eve", empty_pw), PkiError);
  EXPECT_FALSE(fs::exists(dir_ / "eve.pem"));
  EXPECT_FALSE(fs::exists(dir_ / "eve.key"));
}

}  // namespace
}  // namespace postern::auth
