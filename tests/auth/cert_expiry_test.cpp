// Certificate and CRL expiry (auth/cert_expiry.hpp) under an injected clock: the day
// count and the warn/expired thresholds as a table, real certificates and CRLs made by the pki
// functions (including a CRL whose nextUpdate is already past, which the daemon's verify store
// then refuses with "CRL has expired"), and the operator messages for each case.
#include "auth/cert_checks.hpp"
#include "auth/cert_expiry.hpp"
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/x509_vfy.h>

#include <unistd.h>

#include <ctime>
#include <fstream>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kDay = 86400;

TEST(CertExpiry, DaysLeftRoundsTowardsZero) {
  struct Row {
    std::int64_t end, now, days;
  };
  const Row rows[] = {
      {100 * kDay, 0, 100},       {kDay, 1, 0},         {kDay, 0, 1},          {0, 0, 0},
      {0, 1, 0},                  {0, kDay, -1},        {0, kDay + 1, -1},     {0, 3 * kDay - 1, -2},
      {30 * kDay + 5, 5, 30},     {30 * kDay + 4, 5, 29},
  };
  for (const auto& r : rows) EXPECT_EQ(days_left(r.end, r.now), r.days) << r.end << " " << r.now;
}

TEST(CertExpiry, LevelThresholds) {
  struct Row {
    std::int64_t start, end, now;
    ExpiryLevel level;
  };
  const std::int64_t t = 1'000'000'000;
  const Row rows[] = {
      // 825-day certificate: warns from 30 days out, expired at the end itself.
      {t, t + 825 * kDay, t, ExpiryLevel::ok},
      {t, t + 825 * kDay, t + 795 * kDay - 1, ExpiryLevel::ok},
      {t, t + 825 * kDay, t + 795 * kDay, ExpiryLevel::warn},
      {t, t + 825 * kDay, t + 825 * kDay - 1, ExpiryLevel::warn},
      {t, t + 825 * kDay, t + 825 * kDay, ExpiryLevel::expired},
      {t, t + 825 * kDay, t + 900 * kDay, ExpiryLevel::expired},
      // 30-day CRL: a third of its lifetime, so a fresh one is ok and warns 10 days out.
      {t, t + 30 * kDay, t, ExpiryLevel::ok},
      {t, t + 30 * kDay, t + 20 * kDay - 1, ExpiryLevel::ok},
      {t, t + 30 * kDay, t + 20 * kDay, ExpiryLevel::warn},
      {t, t + 30 * kDay, t + 30 * kDay, ExpiryLevel::expired},
      // Unknown start: the 30-day window.
      {0, t + 30 * kDay, t, ExpiryLevel::warn},
      {0, t + 31 * kDay, t, ExpiryLevel::ok},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(expiry_level(r.start, r.end, r.now), r.level)
        << "start " << r.start << " end " << r.end << " now " << r.now;
  }
  EXPECT_EQ(to_string(ExpiryLevel::ok), "ok");
  EXPECT_EQ(to_string(ExpiryLevel::warn), "warn");
  EXPECT_EQ(to_string(ExpiryLevel::expired), "expired");
}

TEST(CertExpiry, FormatUtc) {
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(1'800'000'000), "2027-01-15T08:00:00Z");
}

class CertExpiryFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern_expiry_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    ca_key_ = generate_ec_p256_key();
    ca_ = make_certificate({"test CA", {}, {}, 3650, true, false, false}, ca_key_.get(), nullptr, nullptr);
    write_file(dir_ / "ca.pem", certificate_pem(ca_.get()), 0644, false);
  }
  void TearDown() override { fs::remove_all(dir_); }

  X509Ptr leaf(int days) {
    key_ = generate_ec_p256_key();
    return make_certificate({"laptop", {}, {}, days, false, false, true}, key_.get(), ca_.get(), ca_key_.get());
  }
  static std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

  fs::path dir_;
  EvpPkeyPtr ca_key_, key_;
  X509Ptr ca_;
};

TEST_F(CertExpiryFiles, CertificateDaysFromItsOwnTimes) {
  auto cert = leaf(40);  // notBefore an hour back, notAfter 40 days on: lifetime/3 = 13.35 days
  const std::int64_t end = *to_unix_time(X509_get0_notAfter(cert.get()));
  const auto e = certificate_expiry("client certificate", "", cert.get(), end - 40 * kDay);
  EXPECT_TRUE(e.error.empty());
  EXPECT_EQ(e.end, end);
  EXPECT_EQ(e.days_left, 40);
  EXPECT_EQ(e.level, ExpiryLevel::ok);
  EXPECT_EQ(certificate_expiry("c", "", cert.get(), end - 40 * kDay + 1).days_left, 39);
  EXPECT_EQ(certificate_expiry("c", "", cert.get(), end - 14 * kDay).level, ExpiryLevel::ok);
  EXPECT_EQ(certificate_expiry("c", "", cert.get(), end - 13 * kDay).level, ExpiryLevel::warn);
  const auto past = certificate_expiry("c", "", cert.get(), end + 3 * kDay);
  EXPECT_EQ(past.level, ExpiryLevel::expired);
  EXPECT_EQ(past.days_left, -3);
  EXPECT_EQ(describe_expiry(past), "expired 3 days ago (" + format_utc(end) + ")");
  EXPECT_EQ(describe_expiry(certificate_expiry("c", "", cert.get(), end - 1)),
            "expires in less than a day (" + format_utc(end) + ")");
  EXPECT_EQ(describe_expiry(certificate_expiry("c", "", cert.get(), end)),
            "expired less than a day ago (" + format_utc(end) + ")");
  EXPECT_EQ(describe_expiry(certificate_expiry("c", "", cert.get(), end - kDay)),
            "expires in 1 day (" + format_utc(end) + ")");
}

TEST_F(CertExpiryFiles, CrlPastNextUpdateIsExpiredAndRefusedByTheVerifyStore) {
  auto cert = leaf(100);
  write_file(dir_ / "laptop.pem", certificate_pem(cert.get()), 0644, false);
  auto crl = make_crl(ca_.get(), ca_key_.get(), {}, -1);  // nextUpdate a day ago
  write_file(dir_ / "crl.pem", crl_pem(crl.get()), 0644, false);

  const auto e = crl_file_expiry("CRL", dir_ / "crl.pem", now());
  EXPECT_EQ(e.level, ExpiryLevel::expired);
  EXPECT_EQ(e.days_left, -1);
  EXPECT_EQ(describe_expiry(e).rfind("expired 1 day ago (", 0), 0u) << describe_expiry(e);
  const auto notice = expiry_notice(e, ExpiryKind::crl);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(notice->level, ExpiryLevel::expired);
  EXPECT_EQ(notice->event.text(), "crl_expired");
  EXPECT_EQ(notice->hint, "every client certificate is refused (\"CRL has expired\") until it is re-signed: "
                          "postern pki crl " + dir_.string() + ", then SIGHUP the server");

  // What the server's TLS verification concludes for a valid, unrevoked certificate.
  X509StorePtr store = make_verify_store(dir_ / "ca.pem", dir_ / "crl.pem");
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  EXPECT_NE(X509_verify_cert(ctx.get()), 1);
  const int err = X509_STORE_CTX_get_error(ctx.get());
  EXPECT_EQ(err, X509_V_ERR_CRL_HAS_EXPIRED);
  EXPECT_STREQ(X509_verify_cert_error_string(err), "CRL has expired");
  EXPECT_NE(verify_error_hint(err).find("postern pki crl DIR"), std::string::npos) << verify_error_hint(err);
}

TEST_F(CertExpiryFiles, FreshDefaultCrlIsOkAndWarnsTenDaysOut) {
  auto crl = make_crl(ca_.get(), ca_key_.get(), {}, 30);
  EXPECT_EQ(crl_expiry("CRL", "", crl.get(), now()).level, ExpiryLevel::ok);
  const std::int64_t end = *to_unix_time(X509_CRL_get0_nextUpdate(crl.get()));
  EXPECT_EQ(crl_expiry("CRL", "", crl.get(), end - 11 * kDay).level, ExpiryLevel::ok);
  const auto later = crl_expiry("CRL", "/etc/postern/pki/crl.pem", crl.get(), end - 9 * kDay);
  EXPECT_EQ(later.level, ExpiryLevel::warn);
  EXPECT_EQ(later.days_left, 9);
  const auto notice = expiry_notice(later, ExpiryKind::crl);
  ASSERT_TRUE(notice.has_value());
  EXPECT_EQ(notice->event.text(), "crl_expires_soon");
  EXPECT_EQ(notice->hint, "re-sign it before then: postern pki crl /etc/postern/pki, then SIGHUP the server");
  EXPECT_EQ(describe_expiry(later), "expires in 9 days (" + format_utc(end) + ")");
}

TEST_F(CertExpiryFiles, NoticesForCertificatesAndCa) {
  Expiry e;
  e.what = "tunnel certificate";
  e.path = "/etc/postern/pki/server.pem";
  e.start = 1;
  e.end = 1 + 825 * kDay;
  e.days_left = 12;
  e.level = ExpiryLevel::warn;
  auto n = expiry_notice(e, ExpiryKind::server_certificate);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event.text(), "certificate_expires_soon");
  EXPECT_EQ(n->hint, "postern pki renew /etc/postern/pki server, then restart the server "
                     "(clients pinning server_fingerprint need the new one)");
  e.what = "client CA";
  e.path = "/etc/postern/pki/ca.pem";
  e.level = ExpiryLevel::expired;
  n = expiry_notice(e, ExpiryKind::ca);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event.text(), "ca_expired");
  EXPECT_EQ(n->hint, "postern pki renew /etc/postern/pki ca, then give the new ca.pem to every client and server");
  e.what = "client certificate";
  e.path = "";
  n = expiry_notice(e, ExpiryKind::client_certificate, "laptop");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->hint, "postern pki renew DIR laptop and install the new certificate on that client");
  e.level = ExpiryLevel::ok;
  EXPECT_FALSE(expiry_notice(e, ExpiryKind::client_certificate, "laptop"));
  e.error = "unreadable";
  e.level = ExpiryLevel::warn;
  EXPECT_FALSE(expiry_notice(e, ExpiryKind::ca));  // an unreadable file is reported, not classified
}

TEST_F(CertExpiryFiles, UnreadableFileIsAnErrorNotAnException) {
  const auto e = certificate_file_expiry("tunnel certificate", dir_ / "missing.pem", now());
  EXPECT_NE(e.error.find("missing.pem"), std::string::npos) << e.error;
  EXPECT_EQ(describe_expiry(e).rfind("unreadable: ", 0), 0u);
  const auto c = file_expiry({"CRL", dir_ / "ca.pem", ExpiryKind::crl}, now());  // not a CRL
  EXPECT_FALSE(c.error.empty());
  const auto ca = file_expiry({"client CA", dir_ / "ca.pem", ExpiryKind::ca}, now());
  EXPECT_TRUE(ca.error.empty()) << ca.error;
  EXPECT_GE(ca.days_left, 3649);  // 3650 days from when it was signed, this second or the last
  EXPECT_LE(ca.days_left, 3650);
}

TEST(CertExpiryHints, VerifyErrors) {
  EXPECT_NE(verify_error_hint(X509_V_ERR_CRL_HAS_EXPIRED).find("every client certificate is refused"), std::string::npos);
  EXPECT_NE(verify_error_hint(X509_V_ERR_CERT_HAS_EXPIRED).find("postern pki renew"), std::string::npos);
  EXPECT_NE(verify_error_hint(X509_V_ERR_CRL_NOT_YET_VALID).find("clock"), std::string::npos);
  EXPECT_EQ(verify_error_hint(X509_V_ERR_CERT_REVOKED), "");
}

}  // namespace
}  // namespace postern::auth
