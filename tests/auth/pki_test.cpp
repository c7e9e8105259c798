// PKI generator: the chain verifies with X509_verify_cert, EKU/SAN/basicConstraints are right,
// keys are written 0600 and existing files are not overwritten without force.
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

namespace postern::auth {
namespace {

namespace fs = std::filesystem;

int verify(X509* ca, X509* leaf, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::vector<std::string> san_entries(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                         static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName))));
    } else if (n->type == GEN_IPADD) {
      out.push_back("IP:" + std::to_string(ASN1_STRING_length(n->d.iPAddress)) + "bytes");
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

TEST(Pki, InMemoryChainVerifiesWithRightEku) {
  auto ca_key = generate_ec_p256_key();
  auto ca = make_certificate({"Test CA", {}, {}, 30, true, false, false}, ca_key.get(), nullptr, nullptr);
  auto key = generate_ec_p256_key();
  CertificateSpec spec{"vpn.example.org", {}, {}, 30, false, true, false};
  add_subject_alt_names(spec, {"vpn.example.org", "192.0.2.1", "2001:db8::1"});
  auto server = make_certificate(spec, key.get(), ca.get(), ca_key.get());

  EXPECT_EQ(verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(verify(ca.get(), server.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), std::uint32_t{XKU_SSL_SERVER});
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_EQ(X509_check_host(server.get(), "vpn.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "192.0.2.1", 0), 1);
  EXPECT_EQ(san_entries(server.get()),
            (std::vector<std::string>{"DNS:vpn.example.org", "IP:4bytes", "IP:16bytes"}));
  EXPECT_EQ(X509_get_version(server.get()), X509_VERSION_3);
  EXPECT_EQ(X509_get_signature_nid(server.get()), NID_ecdsa_with_SHA256);
  // Serials are random 128-bit values.
  auto other = make_certificate(spec, key.get(), ca.get(), ca_key.get());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get_serialNumber(server.get()), X509_get_serialNumber(other.get())), 0);
  // A certificate signed by another CA does not verify.
  auto rogue_key = generate_ec_p256_key();
  auto rogue = make_certificate({"Test CA", {}, {}, 30, true, false, false}, rogue_key.get(), nullptr, nullptr);
  EXPECT_NE(verify(rogue.get(), server.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
}

class PkiFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "postern_pki_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  static unsigned mode(const fs::path& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  }
  fs::path dir_;
};

TEST_F(PkiFiles, InitAndIssue) {
  pki_init(dir_, {{"vpn.example.org", "192.0.2.1"}});
  for (const char* f : {"ca.pem", "ca.key", "server.pem", "server.key"}) EXPECT_TRUE(fs::exists(dir_ / f)) << f;
  EXPECT_EQ(mode(dir_ / "ca.key"), 0600u);
  EXPECT_EQ(mode(dir_ / "server.key"), 0600u);
  auto ca = read_certificate_pem(dir_ / "ca.pem");
  auto server = read_certificate_pem(dir_ / "server.pem");
  auto server_key = read_private_key_pem(dir_ / "server.key");
  EXPECT_EQ(X509_check_private_key(server.get(), server_key.get()), 1);
  EXPECT_EQ(verify(ca.get(), server.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "192.0.2.1", 0), 1);

  pki_issue(dir_, "alice", {});
  EXPECT_EQ(mode(dir_ / "alice.key"), 0600u);
  auto alice = read_certificate_pem(dir_ / "alice.pem");
  EXPECT_EQ(verify(ca.get(), alice.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(X509_get_extended_key_usage(alice.get()), std::uint32_t{XKU_SSL_CLIENT});

  // Refuses to overwrite, and leaves the files alone.
  std::string before = certificate_pem(alice.get());
  EXPECT_THROW(pki_issue(dir_, "alice", {}), PkiError);
  EXPECT_EQ(certificate_pem(read_certificate_pem(dir_ / "alice.pem").get()), before);
  EXPECT_THROW(pki_init(dir_, {{"vpn.example.org"}}), PkiError);
  PkiIssueOptions force;
  force.force = true;
  ::chmod((dir_ / "alice.key").c_str(), 0644);
  pki_issue(dir_, "alice", force);
  EXPECT_EQ(mode(dir_ / "alice.key"), 0600u);
  EXPECT_NE(certificate_pem(read_certificate_pem(dir_ / "alice.pem").get()), before);

  EXPECT_THROW(pki_issue(dir_, "../evil", {}), PkiError);
  EXPECT_THROW(pki_issue(dir_, "ca", {}), PkiError);
}

}  // namespace
}  // namespace postern::auth
