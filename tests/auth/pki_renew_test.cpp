// `postern pki renew` and `postern pki crl` (auth/pki.hpp): a renewed certificate keeps
// subject, SANs and usage, is signed by the directory's CA and keeps the key unless asked; a
// renewed CA still verifies what the old one issued; `pki crl` re-signs with the same entries and
// a fresh nextUpdate (an expired CRL becomes valid again); renew, crl and revoke keep the
// replaced file's owner, group and mode, so a daemon's run-as user can still read it at SIGHUP.
#include "auth/cert_checks.hpp"
#include "auth/cert_expiry.hpp"
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;

int verify(const fs::path& dir, const fs::path& leaf_pem, bool with_crl) {
  X509StorePtr store = make_verify_store(dir / "ca.pem", with_crl ? std::optional<fs::path>(dir / "crl.pem") : std::nullopt);
  auto leaf = read_certificate_pem(leaf_pem);
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

std::string san_text(X509* cert) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) out += std::string("DNS:") + reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)) + ",";
    if (n->type == GEN_IPADD) out += "IP,";
  }
  GENERAL_NAMES_free(names);
  return out;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st;
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

class PkiRenew : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern_renew_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    PkiInitOptions init;
    init.server_names = {"vpn.example.org", "192.0.2.1"};
    init.days = 100;
    pki_init(dir_, init);
    PkiIssueOptions issue;
    issue.days = 40;
    pki_issue(dir_, "laptop", issue);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(PkiRenew, ServerKeepsNamesUsageAndKeyAndGetsANewFingerprint) {
  auto old = read_certificate_pem(dir_ / "server.pem");
  const auto r = pki_renew(dir_, "server", {});
  auto cert = read_certificate_pem(dir_ / "server.pem");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(old.get()), X509_get_subject_name(cert.get())), 0);
  EXPECT_EQ(san_text(cert.get()), san_text(old.get()));
  EXPECT_EQ(san_text(cert.get()), "DNS:vpn.example.org,IP,");
  EXPECT_TRUE(r.server);
  EXPECT_FALSE(r.ca);
  EXPECT_EQ(r.days, 100);  // the old certificate's lifetime
  EXPECT_EQ(r.old_fingerprint, fingerprint(old.get()));
  EXPECT_EQ(r.new_fingerprint, fingerprint(cert.get()));
  EXPECT_NE(r.new_fingerprint, r.old_fingerprint);
  EXPECT_EQ(ASN1_INTEGER_cmp(X509_get_serialNumber(old.get()), X509_get_serialNumber(cert.get())) == 0, false);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(old.get()), X509_get0_pubkey(cert.get())), 1);  // same key
  EXPECT_EQ(verify(dir_, dir_ / "server.pem", false), X509_V_OK);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(r.not_after, format_utc(certificate_expiry("", "", cert.get(), now()).end));
}

TEST_F(PkiRenew, DaysAndNewKey) {
  auto old_key = read_private_key_pem(dir_ / "laptop.key");
  PkiRenewOptions options;
  options.days = 400;
  options.new_key = true;
  const auto r = pki_renew(dir_, "laptop", options);
  EXPECT_FALSE(r.server);
  EXPECT_TRUE(r.new_key);
  auto cert = read_certificate_pem(dir_ / "laptop.pem");
  auto key = read_private_key_pem(dir_ / "laptop.key");
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_NE(EVP_PKEY_eq(key.get(), old_key.get()), 1);
  const auto left = certificate_expiry("", "", cert.get(), now()).days_left;
  EXPECT_TRUE(left == 399 || left == 400) << left;  // signed this second or the last
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(stat_of(dir_ / "laptop.key").st_mode & 0777, 0600u);
  EXPECT_EQ(verify(dir_, dir_ / "laptop.pem", false), X509_V_OK);
}

TEST_F(PkiRenew, KeepsOwnerGroupAndMode) {
  ASSERT_EQ(::chmod((dir_ / "laptop.pem").c_str(), 0640), 0);
  ASSERT_EQ(::chmod((dir_ / "laptop.key").c_str(), 0640), 0);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown((dir_ / "laptop.pem").c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chown((dir_ / "laptop.key").c_str(), 0, 65534), 0);
  }
  PkiRenewOptions options;
  options.new_key = true;
  pki_renew(dir_, "laptop", options);
  EXPECT_EQ(stat_of(dir_ / "laptop.pem").st_mode & 0777, 0640u);
  EXPECT_EQ(stat_of(dir_ / "laptop.key").st_mode & 0777, 0640u);
  if (root) {
    EXPECT_EQ(stat_of(dir_ / "laptop.pem").st_uid, 65534u);
    EXPECT_EQ(stat_of(dir_ / "laptop.pem").st_gid, 65534u);
    EXPECT_EQ(stat_of(dir_ / "laptop.key").st_gid, 65534u);
  }
  // A key file's mode is capped at 0640: never world-readable, whatever it was.
  ASSERT_EQ(::chmod((dir_ / "laptop.key").c_str(), 0644), 0);
  pki_renew(dir_, "laptop", options);
  EXPECT_EQ(stat_of(dir_ / "laptop.key").st_mode & 0777, 0640u);
  EXPECT_FALSE(fs::exists(dir_ / "laptop.pem.tmp"));
}

TEST_F(PkiRenew, CaKeepsItsKeySoIssuedCertificatesStillVerify) {
  const auto r = pki_renew(dir_, "ca", {});
  EXPECT_TRUE(r.ca);
  EXPECT_EQ(r.days, 3650);
  EXPECT_EQ(verify(dir_, dir_ / "server.pem", false), X509_V_OK);
  EXPECT_EQ(verify(dir_, dir_ / "laptop.pem", false), X509_V_OK);
  auto ca = read_certificate_pem(dir_ / "ca.pem");
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  PkiRenewOptions options;
  options.new_key = true;
  EXPECT_THROW(pki_renew(dir_, "ca", options), PkiError);
}

TEST_F(PkiRenew, RefusesForeignCertificateAndMismatchedKey) {
  fs::path other = dir_ / "other";
  pki_init(other, {{"elsewhere.example"}});
  pki_issue(other, "intruder", {});
  fs::copy_file(other / "intruder.pem", dir_ / "intruder.pem");
  fs::copy_file(other / "intruder.key", dir_ / "intruder.key");
  EXPECT_THROW(pki_renew(dir_, "intruder", {}), PkiError);
  fs::copy_file(dir_ / "server.key", dir_ / "laptop.key", fs::copy_options::overwrite_existing);
  EXPECT_THROW(pki_renew(dir_, "laptop", {}), PkiError);
  EXPECT_THROW(pki_renew(dir_, "missing", {}), PkiError);
}

class PkiCrl : public PkiRenew {};

TEST_F(PkiCrl, CreatesAnEmptyCrlWhenMissing) {
  const auto r = pki_crl(dir_, {});
  EXPECT_TRUE(r.created);
  EXPECT_EQ(r.revoked_count, 0u);
  auto crl = read_crl_pem(dir_ / "crl.pem");
  EXPECT_TRUE(crl_serials(crl.get()).empty());
  const auto left = crl_expiry("", "", crl.get(), now()).days_left;
  EXPECT_TRUE(left == 29 || left == 30) << left;
  EXPECT_EQ(r.next_update, format_utc(crl_expiry("", "", crl.get(), now()).end));
  EXPECT_EQ(stat_of(dir_ / "crl.pem").st_mode & 0777, 0644u);
  EXPECT_EQ(verify(dir_, dir_ / "laptop.pem", true), X509_V_OK);
}

TEST_F(PkiCrl, ResignsAnExpiredCrlKeepingEntriesDatesOwnerAndMode) {
  pki_issue(dir_, "spare", {});
  PkiRevokeOptions expired;
  expired.days = -1;  // a CRL whose nextUpdate is already past
  pki_revoke(dir_, "spare", expired);
  ASSERT_EQ(::chmod((dir_ / "crl.pem").c_str(), 0640), 0);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown((dir_ / "crl.pem").c_str(), 0, 65534), 0);
  }
  auto before = read_crl_pem(dir_ / "crl.pem");
  EXPECT_EQ(crl_expiry("", "", before.get(), now()).level, ExpiryLevel::expired);
  EXPECT_EQ(verify(dir_, dir_ / "laptop.pem", true), X509_V_ERR_CRL_HAS_EXPIRED);

  PkiCrlOptions options;
  options.days = 7;
  const auto r = pki_crl(dir_, options);
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.revoked_count, 1u);
  auto after = read_crl_pem(dir_ / "crl.pem");
  EXPECT_EQ(crl_serials(after.get()), crl_serials(before.get()));
  X509_REVOKED* old_entry = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(before.get()), 0);
  X509_REVOKED* new_entry = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(after.get()), 0);
  EXPECT_EQ(ASN1_TIME_compare(X509_REVOKED_get0_revocationDate(old_entry), X509_REVOKED_get0_revocationDate(new_entry)), 0);
  const auto left = crl_expiry("", "", after.get(), now()).days_left;
  EXPECT_TRUE(left == 6 || left == 7) << left;
  EXPECT_EQ(verify(dir_, dir_ / "laptop.pem", true), X509_V_OK);
  EXPECT_EQ(verify(dir_, dir_ / "spare.pem", true), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(stat_of(dir_ / "crl.pem").st_mode & 0777, 0640u);
  if (root) {
    EXPECT_EQ(stat_of(dir_ / "crl.pem").st_gid, 65534u);
  }

  // revoke keeps them too.
  pki_revoke(dir_, "laptop");
  EXPECT_EQ(stat_of(dir_ / "crl.pem").st_mode & 0777, 0640u);
  if (root) {
    EXPECT_EQ(stat_of(dir_ / "crl.pem").st_gid, 65534u);
  }
}

TEST_F(PkiCrl, RefusesACrlOfAnotherCaAndBadDays) {
  fs::path other = dir_ / "other";
  pki_init(other, {{"elsewhere.example"}});
  pki_crl(other, {});
  fs::copy_file(other / "crl.pem", dir_ / "crl.pem");
  EXPECT_THROW(pki_crl(dir_, {}), PkiError);
  PkiCrlOptions zero;
  zero.days = 0;
  EXPECT_THROW(pki_crl(other, zero), PkiError);
}

}  // namespace
}  // namespace postern::auth
