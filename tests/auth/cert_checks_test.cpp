// Certificate checks: fingerprints, deny list parsing and matching, CRL revocation.
#include "auth/cert_checks.hpp"
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;

struct Chain {
  EvpPkeyPtr ca_key = generate_ec_p256_key();
  X509Ptr ca = make_certificate({"CA", {}, {}, 30, true, false, false}, ca_key.get(), nullptr, nullptr);
  EvpPkeyPtr key = generate_ec_p256_key();
  X509Ptr alice = make_certificate({"alice", {}, {}, 30, false, false, true}, key.get(), ca.get(), ca_key.get());
  X509Ptr bob = make_certificate({"bob", {}, {}, 30, false, false, true}, key.get(), ca.get(), ca_key.get());
};

int verify(X509_STORE* store, X509* leaf) {
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  return ok == 1 ? X509_V_OK : err;
}

fs::path temp_file(const std::string& stem, const std::string& text) {
  fs::path p = fs::temp_directory_path() / (stem + "_" + std::to_string(::getpid()));
  std::ofstream(p) << text;
  return p;
}

TEST(Fingerprint, FormatAndNormalize) {
  Chain c;
  std::string fp = fingerprint(c.alice.get());
  EXPECT_EQ(fp.size(), 32u * 3 - 1);
  EXPECT_EQ(normalize_fingerprint(fp), fp);
  std::string bare;
  for (char ch : fp)
    if (ch != ':') bare += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_EQ(normalize_fingerprint(bare), fp);
  EXPECT_FALSE(normalize_fingerprint(bare.substr(2)));
  EXPECT_FALSE(normalize_fingerprint("zz" + bare.substr(2)));
  EXPECT_NE(fingerprint(c.bob.get()), fp);
}

TEST(DenyList, FingerprintAndSubjectCn) {
  Chain c;
  DenyList deny;
  EXPECT_FALSE(deny.is_denied(c.alice.get()));
  std::string fp = fingerprint(c.alice.get());
  deny.load_text("# revoked laptops\n\n" + fp + "\n");
  EXPECT_TRUE(deny.is_denied(c.alice.get()));
  EXPECT_FALSE(deny.is_denied(c.bob.get()));
  deny.load_text("subject CN=bob\n");
  EXPECT_FALSE(deny.is_denied(c.alice.get()));
  EXPECT_TRUE(deny.is_denied(c.bob.get()));
  try {
    deny.load_text("subject CN=bob\nnot a fingerprint\n", "deny.txt");
    ADD_FAILURE();
  } catch (const CertCheckError& e) {
    EXPECT_EQ(std::string(e.what()).find("deny.txt:2:"), 0u) << e.what();
  }
  EXPECT_TRUE(deny.is_denied(c.bob.get()));  // failed load kept the old list
}

TEST(DenyList, ReloadFromFile) {
  Chain c;
  fs::path file = temp_file("postern_deny", "subject CN=alice\n");
  DenyList deny;
  deny.load(file);
  EXPECT_TRUE(deny.is_denied(c.alice.get()));
  std::ofstream(file) << fingerprint(c.bob.get()) << "\n";
  deny.reload();
  EXPECT_FALSE(deny.is_denied(c.alice.get()));
  EXPECT_TRUE(deny.is_denied(c.bob.get()));
  fs::remove(file);
}

TEST(Crl, RevokedCertificateFailsVerification) {
  Chain c;
  fs::path ca_file = temp_file("postern_ca", certificate_pem(c.ca.get()));
  auto crl = make_crl(c.ca.get(), c.ca_key.get(), {c.bob.get()});
  fs::path crl_file = temp_file("postern_crl", crl_pem(crl.get()));

  auto without = make_verify_store(ca_file, std::nullopt);
  EXPECT_EQ(verify(without.get(), c.bob.get()), X509_V_OK);
  auto with = make_verify_store(ca_file, crl_file);
  EXPECT_EQ(verify(with.get(), c.alice.get()), X509_V_OK);
  EXPECT_EQ(verify(with.get(), c.bob.get()), X509_V_ERR_CERT_REVOKED);

  fs::path empty = temp_file("postern_nocrl", "nothing here\n");
  EXPECT_THROW(make_verify_store(ca_file, empty), CertCheckError);
  EXPECT_THROW(make_verify_store(empty, std::nullopt), CertCheckError);
  for (const auto& f : {ca_file, crl_file, empty}) fs::remove(f);
}

}  // namespace
}  // namespace postern::auth
