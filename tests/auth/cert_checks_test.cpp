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

// A site CA with an intermediate (postern's pki issues from its root; a site's own PKI may not):
// root -> intermediate -> leaf, client_ca holding both CAs.
struct IntermediateChain {
  EvpPkeyPtr root_key = generate_ec_p256_key();
  X509Ptr root = make_certificate({"Root", {}, {}, 30, true, false, false}, root_key.get(), nullptr, nullptr);
  EvpPkeyPtr mid_key = generate_ec_p256_key();
  X509Ptr mid = make_certificate({"Intermediate", {}, {}, 30, true, false, false}, mid_key.get(), root.get(),
                                 root_key.get());
  EvpPkeyPtr key = generate_ec_p256_key();
  X509Ptr leaf = make_certificate({"carol", {}, {}, 30, false, false, true}, key.get(), mid.get(), mid_key.get());
};

TEST(Crl, EveryCertificateOfTheChainIsChecked) {
  IntermediateChain c;
  fs::path ca_file = temp_file("postern_ca2", certificate_pem(c.root.get()) + certificate_pem(c.mid.get()));
  const std::string root_clean = crl_pem(make_crl(c.root.get(), c.root_key.get(), {}).get());
  const std::string root_revokes_mid = crl_pem(make_crl(c.root.get(), c.root_key.get(), {c.mid.get()}).get());
  const std::string mid_clean = crl_pem(make_crl(c.mid.get(), c.mid_key.get(), {}).get());
  const std::string mid_revokes_leaf = crl_pem(make_crl(c.mid.get(), c.mid_key.get(), {c.leaf.get()}).get());
  auto verify_with = [&](const std::string& crls) {
    fs::path crl_file = temp_file("postern_crl2", crls);
    auto store = make_verify_store(ca_file, crl_file);
    fs::remove(crl_file);
    return verify(store.get(), c.leaf.get());
  };
  EXPECT_EQ(verify_with(root_clean + mid_clean), X509_V_OK);
  EXPECT_EQ(verify_with(root_clean + mid_revokes_leaf), X509_V_ERR_CERT_REVOKED);
  // The intermediate revoked by the root: its leaf is refused although its own CRL is clean
  // (a leaf-only check, X509_V_FLAG_CRL_CHECK alone, let it in).
  EXPECT_EQ(verify_with(root_revokes_mid + mid_clean), X509_V_ERR_CERT_REVOKED);
  // A CA of the chain without its CRL in the file: refused, not waved through.
  EXPECT_EQ(verify_with(mid_clean), X509_V_ERR_UNABLE_TO_GET_CRL);
  EXPECT_EQ(verify_with(root_clean), X509_V_ERR_UNABLE_TO_GET_CRL);
  fs::remove(ca_file);
}

}  // namespace
}  // namespace postern::auth
