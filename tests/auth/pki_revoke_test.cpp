// `postern pki revoke` (auth/pki.hpp pki_revoke): the CRL it writes makes the daemon's
// verify store (make_verify_store, as installed on start and SIGHUP) refuse exactly the revoked
// certificates; earlier entries keep their revocation dates; revoking twice is idempotent;
// certificates or CRLs from another CA are refused without touching crl.pem.
#include "auth/cert_checks.hpp"
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;

// What the daemon's TLS verify callback would conclude for `leaf`.
int verify_with_crl(const fs::path& dir, const fs::path& leaf_pem) {
  X509StorePtr store = make_verify_store(dir / "ca.pem", dir / "crl.pem");
  auto leaf = read_certificate_pem(leaf_pem);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  const int ok = X509_verify_cert(ctx);
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::string serial_of(const fs::path& pem) {
  auto cert = read_certificate_pem(pem);
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert.get()), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class PkiRevoke : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern_revoke_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    pki_init(dir_, {{"vpn.example.org"}});
    pki_issue(dir_, "alice", {});
    pki_issue(dir_, "bob", {});
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(PkiRevoke, CreatesCrlThatRefusesOnlyTheRevokedCertificate) {
  ASSERT_FALSE(fs::exists(dir_ / "crl.pem"));
  const auto result = pki_revoke(dir_, "alice");
  EXPECT_EQ(result.serial, serial_of(dir_ / "alice.pem"));
  EXPECT_FALSE(result.already_revoked);
  EXPECT_EQ(result.revoked_count, 1u);
  ASSERT_TRUE(fs::exists(dir_ / "crl.pem"));
  EXPECT_FALSE(fs::exists(dir_ / "crl.pem.tmp"));
  EXPECT_EQ(verify_with_crl(dir_, dir_ / "alice.pem"), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify_with_crl(dir_, dir_ / "bob.pem"), X509_V_OK);

  auto crl = read_crl_pem(dir_ / "crl.pem");
  auto ca = read_certificate_pem(dir_ / "ca.pem");
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())), 1);
  EXPECT_EQ(X509_CRL_get_version(crl.get()), 1);  // v2
  EXPECT_EQ(crl_serials(crl.get()), std::vector<std::string>{result.serial});
}

TEST_F(PkiRevoke, AddsToTheListKeepingEarlierEntriesAndIsIdempotent) {
  pki_revoke(dir_, "alice");
  auto first = read_crl_pem(dir_ / "crl.pem");
  const ASN1_TIME* alice_date = X509_REVOKED_get0_revocationDate(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(first.get()), 0));
  ::sleep(1);  // a re-created entry would carry a later date
  const auto bob = pki_revoke(dir_, "bob");
  EXPECT_EQ(bob.revoked_count, 2u);
  EXPECT_EQ(verify_with_crl(dir_, dir_ / "alice.pem"), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify_with_crl(dir_, dir_ / "bob.pem"), X509_V_ERR_CERT_REVOKED);
  auto second = read_crl_pem(dir_ / "crl.pem");
  bool found = false;
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(second.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    X509_REVOKED* r = sk_X509_REVOKED_value(entries, i);
    auto cert = read_certificate_pem(dir_ / "alice.pem");
    if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(r), X509_get_serialNumber(cert.get())) == 0) {
      found = true;
      EXPECT_EQ(ASN1_TIME_compare(X509_REVOKED_get0_revocationDate(r), alice_date), 0);
    }
  }
  EXPECT_TRUE(found);

  const auto again = pki_revoke(dir_, "alice");
  EXPECT_TRUE(again.already_revoked);
  EXPECT_EQ(again.revoked_count, 2u);
  EXPECT_EQ(crl_serials(read_crl_pem(dir_ / "crl.pem").get()).size(), 2u);
}

TEST_F(PkiRevoke, RefusesForeignCertificatesAndCrls) {
  std::string tmpl = (fs::temp_directory_path() / "postern_revoke_other_XXXXXX").string();
  const fs::path other = ::mkdtemp(tmpl.data());
  pki_init(other, {{"other.example.org"}});
  pki_issue(other, "mallory", {});
  pki_revoke(other, "mallory");

  // A certificate of another CA copied into this directory.
  fs::copy_file(other / "mallory.pem", dir_ / "mallory.pem");
  EXPECT_THROW(pki_revoke(dir_, "mallory"), PkiError);
  EXPECT_FALSE(fs::exists(dir_ / "crl.pem"));

  // A crl.pem signed by another CA is not silently replaced.
  fs::copy_file(other / "crl.pem", dir_ / "crl.pem");
  const std::string before = slurp(dir_ / "crl.pem");
  EXPECT_THROW(pki_revoke(dir_, "alice"), PkiError);
  EXPECT_EQ(slurp(dir_ / "crl.pem"), before);

  EXPECT_THROW(pki_revoke(dir_, "../evil"), PkiError);
  EXPECT_THROW(pki_revoke(dir_, "nobody-issued"), PkiError);
  fs::remove_all(other);
}

}  // namespace
}  // namespace postern::auth
