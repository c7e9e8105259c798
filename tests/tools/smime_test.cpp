// S/MIME (tools/postern/smime): the MIME structure of signed and enveloped entities (boundaries
// unique and absent from what they delimit, CRLF before signing, part 1 byte-exactly the signed
// bytes), sign -> verify and encrypt -> decrypt round trips through OpenSSL's own MIME reader, a
// one-byte alteration failing, the wrong recipient's key failing, an untrusted CA and a From the
// certificate does not name failing, GCM (AuthEnvelopedData) vs CBC.
#include "tools/postern/send/message.hpp"
#include "tools/postern/smime/cms.hpp"
#include "tools/postern/smime/smime_compose.hpp"
#include "tools/postern/smime/smime_open.hpp"
#include "auth/pki.hpp"

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>

namespace postern::tools::smime {
namespace {

namespace auth = postern::auth;

struct User {
  X509Ptr cert;
  EvpPkeyPtr key;
};

User make_user(const std::string& name, const std::string& email, auth::KeyType type, X509* ca, EVP_PKEY* ca_key) {
  User u{nullptr, auth::generate_key(type)};
  auth::CertificateSpec spec{name, {}, {}, 30, false, false, true};
  if (!email.empty()) spec.emails.push_back(email);
  u.cert = auth::make_certificate(spec, u.key.get(), ca, ca_key);
  return u;
}

std::string base64_decode(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if (c != '\r' && c != '\n') clean += c;
  }
  std::string out(clean.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return {};
  std::size_t pad = 0;
  for (std::size_t i = clean.size(); i > 0 && clean[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::size_t count(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

class Smime : public ::testing::Test {
 protected:
  // One CA and two users for the suite: RSA 3072 key generation takes a while.
  static void SetUpTestSuite() {
    ca_key_ = auth::generate_ec_p256_key();
    ca_ = auth::make_certificate({"Test CA", {}, {}, 30, true, false, false}, ca_key_.get(), nullptr, nullptr);
    alice_ = make_user("alice", "alice@example.org", auth::KeyType::ec_p256, ca_.get(), ca_key_.get());
    bob_ = make_user("bob", "bob@example.org", auth::KeyType::rsa_3072, ca_.get(), ca_key_.get());
  }
  static void TearDownTestSuite() {
    alice_ = {};
    bob_ = {};
    ca_.reset();
    ca_key_.reset();
  }
  void SetUp() override {
    store_ = trust_store_from_pem(auth::certificate_pem(ca_.get()));

    spec_.from = "Alice <alice@example.org>";
    spec_.to = {"bob@example.org"};
    spec_.subject = "quarterly figures";
    spec_.body = "Hello Bob,\nthe figures are attached.\n.\nA line that starts with a dot, and From me\n";
    spec_.attachments.push_back({"figures.csv", "text/csv", "q1,q2\n10,20\n"});
    spec_.attachments.push_back({"blob.bin", "application/octet-stream", std::string("\x00\xff\r\n\x80", 5)});
    spec_.message_id_token = "0123456789abcdef";
    spec_.server_has_8bitmime = false;
  }

  std::string entity() const { return send::build_content(spec_).text; }

  std::string message(const ProtectOptions& o) const {
    return send::build_headers(spec_) + protect_entity(entity(), o);
  }

  ProtectOptions sign_as_alice() const {
    ProtectOptions o;
    o.sign_cert = alice_.cert.get();
    o.sign_key = alice_.key.get();
    o.boundary_token = spec_.message_id_token;
    return o;
  }

  OpenedMessage open(std::string_view m, const User* reader = nullptr, X509_STORE* store = nullptr) const {
    OpenOptions o;
    o.trust = store != nullptr ? store : store_.get();
    if (reader != nullptr) {
      o.cert = reader->cert.get();
      o.key = reader->key.get();
    }
    return open_message(m, o);
  }

  static inline EvpPkeyPtr ca_key_;
  static inline X509Ptr ca_;
  static inline User alice_, bob_;
  X509StorePtr store_;
  send::MessageSpec spec_;
};

TEST(SmimeMime, CanonicalCrlf) {
  EXPECT_EQ(canonical_crlf("a\nb\r\nc\rd\n\n"), "a\r\nb\r\nc\r\nd\r\n\r\n");
  EXPECT_EQ(canonical_crlf("already\r\ncanonical\r\n"), "already\r\ncanonical\r\n");
  EXPECT_EQ(canonical_crlf(""), "");
}

TEST(SmimeMime, BoundaryIsLengthenedUntilAbsent) {
  EXPECT_EQ(choose_boundary("tok", "plain text"), "=_postern_s_tok");
  EXPECT_EQ(choose_boundary("tok", "x =_postern_s_tok y"), "=_postern_s_tok_x");
  EXPECT_EQ(choose_boundary("tok", "=_postern_s_tok and =_postern_s_tok_x"), "=_postern_s_tok_x_x");
}

TEST_F(Smime, SignedEntityStructure) {
  const std::string content = entity();
  ASSERT_NE(content.find("multipart/mixed"), std::string::npos);
  // The content's own boundary shares the token; the signed one must differ from it.
  const std::string e = signed_entity(content, alice_.cert.get(), alice_.key.get(), spec_.message_id_token);
  ASSERT_EQ(e.rfind("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n"
                    " micalg=sha-256; boundary=\"",
                    0),
            0u)
      << e;
  const auto b0 = e.find("boundary=\"") + 10;
  const std::string boundary = e.substr(b0, e.find('"', b0) - b0);
  EXPECT_EQ(boundary, choose_boundary(spec_.message_id_token, canonical_crlf(content)));
  EXPECT_EQ(content.find(boundary), std::string::npos);
  EXPECT_EQ(count(e, "\r\n--" + boundary + "\r\n"), 2u);  // the delimiter before each part
  EXPECT_EQ(count(e, "\r\n--" + boundary + "--\r\n"), 1u);
  EXPECT_TRUE(e.size() >= 4 && e.compare(e.size() - boundary.size() - 6, std::string::npos, "--" + boundary + "--\r\n") == 0);
  // CRLF everywhere: no bare LF or CR, no line over 78 characters.
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (e[i] == '\n') {
      ASSERT_TRUE(i > 0 && e[i - 1] == '\r') << "bare LF at " << i;
    }
    if (e[i] == '\r') {
      ASSERT_TRUE(i + 1 < e.size() && e[i + 1] == '\n') << "bare CR at " << i;
    }
  }
  for (std::size_t s = 0, n; s < e.size(); s = n + 2) {
    n = e.find("\r\n", s);
    EXPECT_LE(n - s, 78u) << e.substr(s, n - s);
  }
  // Part 1 is the canonical content byte for byte (the CRLF before the delimiter is the
  // delimiter's), and the detached signature in part 2 verifies over exactly those bytes.
  const std::string first = "--" + boundary + "\r\n";
  const auto p1 = e.find(first) + first.size();
  const auto p1_end = e.find("\r\n--" + boundary + "\r\n", p1);
  const std::string part1 = e.substr(p1, p1_end - p1);
  EXPECT_EQ(part1, canonical_crlf(content));
  EXPECT_EQ(part1.find('\n', 0), part1.find("\r\n") + 1);
  const auto p2 = p1_end + first.size() + 2;
  const auto p2_body = e.find("\r\n\r\n", p2) + 4;
  const std::string headers2 = e.substr(p2, p2_body - p2);
  EXPECT_NE(headers2.find("Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"), std::string::npos);
  EXPECT_NE(headers2.find("Content-Transfer-Encoding: base64\r\n"), std::string::npos);
  const std::string der = base64_decode(e.substr(p2_body, e.rfind("\r\n--" + boundary + "--") - p2_body));
  CmsPtr cms = cms_from_der(der);
  BIO* in = BIO_new_mem_buf(part1.data(), static_cast<int>(part1.size()));
  EXPECT_EQ(CMS_verify(cms.get(), nullptr, store_.get(), in, nullptr, CMS_BINARY), 1) << openssl_errors();
  BIO_free(in);
  // ... and not over the content with LF line ends (what canonicalisation is for).
  std::string lf = part1;
  lf.erase(std::remove(lf.begin(), lf.end(), '\r'), lf.end());
  in = BIO_new_mem_buf(lf.data(), static_cast<int>(lf.size()));
  EXPECT_NE(CMS_verify(cms.get(), nullptr, store_.get(), in, nullptr, CMS_BINARY), 1);
  BIO_free(in);
  openssl_errors();
}

TEST_F(Smime, SignVerifyRoundTrip) {
  const std::string m = message(sign_as_alice());
  const OpenedMessage r = open(m);
  EXPECT_EQ(r.verdict, Verdict::ok) << r.reason;
  EXPECT_EQ(r.layers, std::vector<Layer>{Layer::signed_data});
  EXPECT_TRUE(r.signature_ok);
  ASSERT_EQ(r.signers.size(), 1u);
  EXPECT_EQ(r.signers[0].subject, "CN=alice");
  EXPECT_EQ(r.signers[0].issuer, "CN=Test CA");
  EXPECT_EQ(r.signers[0].emails, std::vector<std::string>{"alice@example.org"});
  EXPECT_EQ(r.from, "alice@example.org");
  EXPECT_TRUE(r.from_matches);
  EXPECT_EQ(r.content, canonical_crlf(entity()));
  EXPECT_NE(r.content.find("filename=\"figures.csv\""), std::string::npos);
}

TEST_F(Smime, OneByteAlteredFailsVerification) {
  const std::string m = message(sign_as_alice());
  for (const std::string& needle : {std::string("Hello Bob"), send::base64_encode(spec_.attachments[0].data).substr(0, 8)}) {
    std::string altered = m;
    const auto at = altered.find(needle);
    ASSERT_NE(at, std::string::npos) << needle;
    altered[at + 2] ^= 0x01;
    const OpenedMessage r = open(altered);
    EXPECT_EQ(r.verdict, Verdict::bad_signature) << needle;
    EXPECT_FALSE(r.signature_intact);
    EXPECT_FALSE(r.signature_ok);
    EXPECT_NE(r.reason.find("altered after signing"), std::string::npos) << r.reason;
    ASSERT_EQ(r.signers.size(), 1u);  // who claims to have signed is still reported
    EXPECT_EQ(r.signers[0].subject, "CN=alice");
  }
}

TEST_F(Smime, UntrustedCaAndForeignFromFail) {
  auto rogue_key = auth::generate_ec_p256_key();
  auto rogue = auth::make_certificate({"Test CA", {}, {}, 30, true, false, false}, rogue_key.get(), nullptr, nullptr);
  X509StorePtr rogue_store = trust_store_from_pem(auth::certificate_pem(rogue.get()));
  const std::string m = message(sign_as_alice());
  const OpenedMessage r = open(m, nullptr, rogue_store.get());
  EXPECT_EQ(r.verdict, Verdict::untrusted_signer) << r.reason;
  EXPECT_TRUE(r.signature_intact);
  EXPECT_FALSE(r.signature_ok);
  EXPECT_NE(r.reason.find("local issuer"), std::string::npos) << r.reason;  // OpenSSL's detail text
  ASSERT_EQ(r.signers.size(), 1u);  // still named, so the reader sees who claims to have signed
  EXPECT_EQ(r.signers[0].subject, "CN=alice");

  spec_.from = "mallory@example.org";
  const OpenedMessage f = open(message(sign_as_alice()));
  EXPECT_TRUE(f.signature_ok);
  EXPECT_FALSE(f.from_matches);
  EXPECT_EQ(f.verdict, Verdict::from_mismatch);
  EXPECT_NE(f.reason.find("mallory@example.org"), std::string::npos) << f.reason;
}

TEST_F(Smime, CertificateWithoutEmailProtectionIsNotTrustedForMail) {
  User laptop{nullptr, auth::generate_ec_p256_key()};
  laptop.cert = auth::make_certificate({"laptop", {}, {}, 30, false, false, true}, laptop.key.get(), ca_.get(), ca_key_.get());
  ProtectOptions o;
  o.sign_cert = laptop.cert.get();
  o.sign_key = laptop.key.get();
  o.boundary_token = "t";
  const OpenedMessage r = open(message(o));
  EXPECT_FALSE(r.signature_ok);
  EXPECT_TRUE(r.signature_intact);
  EXPECT_EQ(r.verdict, Verdict::untrusted_signer);
}

TEST_F(Smime, EncryptedToAliceDoesNotOpenWithBobsKey) {
  ProtectOptions o;
  o.recipients = {alice_.cert.get()};
  o.cipher = choose_cipher(o.recipients);
  const std::string m = message(o);
  const OpenedMessage wrong = open(m, &bob_);
  EXPECT_EQ(wrong.verdict, Verdict::cannot_decrypt);
  EXPECT_FALSE(wrong.decrypted);
  EXPECT_TRUE(wrong.content.empty());
  const OpenedMessage no_key = open(m);
  EXPECT_EQ(no_key.verdict, Verdict::cannot_decrypt);
  // Bob's certificate with alice's key is no better than bob's own key.
  User mixed{X509Ptr(X509_dup(bob_.cert.get())), EvpPkeyPtr()};
  EVP_PKEY_up_ref(alice_.key.get());
  mixed.key.reset(alice_.key.get());
  EXPECT_EQ(open(m, &mixed).verdict, Verdict::cannot_decrypt);
  const OpenedMessage right = open(m, &alice_);
  EXPECT_EQ(right.verdict, Verdict::ok) << right.reason;
  EXPECT_EQ(right.layers, std::vector<Layer>{Layer::auth_enveloped_data});
  EXPECT_EQ(right.content_cipher, "aes-256-gcm");
  EXPECT_EQ(right.content, canonical_crlf(entity()));
}

TEST_F(Smime, SignedThenEnvelopedWithGcm) {
  ProtectOptions o = sign_as_alice();
  o.recipients = {bob_.cert.get(), alice_.cert.get()};  // alice: the sender's own copy
  EXPECT_EQ(choose_cipher(o.recipients), ContentCipher::aes_256_gcm);
  o.cipher = ContentCipher::aes_256_gcm;
  const std::string m = message(o);
  const std::string body = m.substr(send::build_headers(spec_).size());
  ASSERT_EQ(body.rfind("Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=\"smime.p7m\"\r\n", 0), 0u)
      << body;
  const auto b64 = body.find("\r\n\r\n") + 4;
  CmsPtr cms = cms_from_der(base64_decode(body.substr(b64)));
  EXPECT_EQ(OBJ_obj2nid(CMS_get0_type(cms.get())), NID_id_smime_ct_authEnvelopedData);
  // Nothing of the content or the signature shows outside.
  EXPECT_EQ(m.find("Hello Bob"), std::string::npos);
  EXPECT_EQ(m.find("multipart/signed"), std::string::npos);
  for (const User* reader : {&bob_, &alice_}) {
    const OpenedMessage r = open(m, reader);
    EXPECT_EQ(r.verdict, Verdict::ok) << r.reason;
    EXPECT_EQ(r.layers, (std::vector<Layer>{Layer::auth_enveloped_data, Layer::signed_data}));
    ASSERT_EQ(r.signers.size(), 1u);
    EXPECT_EQ(r.signers[0].subject, "CN=alice");
    EXPECT_EQ(r.content, canonical_crlf(entity()));
  }
  // One byte changed in the ciphertext: the GCM tag (or the key) no longer checks out.
  std::string altered = m;
  const auto at = altered.size() - 200;
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  EXPECT_EQ(open(altered, &bob_).verdict, Verdict::cannot_decrypt);
}

// A one-byte change in the base64 right after the headers breaks the DER itself: the entity still
// says it is S/MIME, so it is a damaged layer, not "not S/MIME".
TEST_F(Smime, DamagedStructureIsNotMistakenForPlainMail) {
  ProtectOptions o;
  o.recipients = {bob_.cert.get()};
  std::string m = message(o);
  const auto b64 = m.find("\r\n\r\n", m.find("smime-type=")) + 4;
  m[b64] = m[b64] == 'M' ? 'A' : 'M';  // the SEQUENCE tag (0x30 = "M" in base64)
  const OpenedMessage r = open(m, &bob_);
  EXPECT_EQ(r.verdict, Verdict::cannot_decrypt) << r.reason;
  EXPECT_NE(r.reason.find("damaged"), std::string::npos) << r.reason;

  std::string s = message(sign_as_alice());
  const auto sig = s.find("\r\n\r\n", s.find("application/pkcs7-signature; name")) + 4;
  s[sig] = s[sig] == 'M' ? 'A' : 'M';
  const OpenedMessage q = open(s);
  EXPECT_EQ(q.verdict, Verdict::bad_signature) << q.reason;
}

TEST_F(Smime, ReassembleKeepsOuterHeadersAndTheInnerEntity) {
  ProtectOptions o = sign_as_alice();
  o.recipients = {bob_.cert.get()};
  const std::string m = "Received: from laptop\r\n by site\r\n" + message(o);
  const OpenedMessage r = open(m, &bob_);
  ASSERT_EQ(r.verdict, Verdict::ok) << r.reason;
  const std::string text = reassemble(m, r.content);
  EXPECT_EQ(text.rfind("Received: from laptop\r\n by site\r\n", 0), 0u) << text;
  EXPECT_NE(text.find("Subject: quarterly figures\r\n"), std::string::npos);
  EXPECT_EQ(text.find("pkcs7"), std::string::npos) << text;  // no S/MIME header left
  EXPECT_EQ(count(text, "MIME-Version:"), 1u);
  EXPECT_NE(text.find("MIME-Version: 1.0\r\n" + canonical_crlf(entity())), std::string::npos);
  // A plain reader parses it: it is the message as sent without protection.
  EXPECT_NE(text.find("filename=\"blob.bin\""), std::string::npos);
}

TEST_F(Smime, Pkcs12GivesBackCertificateAndKey) {
  const SecretBytes password(std::string_view("p12 secret"));
  const std::string der = auth::pkcs12_bundle(bob_.cert.get(), bob_.key.get(), ca_.get(), "bob@example.org", password);
  const Credentials c = credentials_from_pkcs12(der, password);
  ASSERT_TRUE(c.cert && c.key);
  EXPECT_EQ(X509_cmp(c.cert.get(), bob_.cert.get()), 0);
  EXPECT_EQ(X509_check_private_key(c.cert.get(), c.key.get()), 1);
  EXPECT_THROW(credentials_from_pkcs12(der, SecretBytes(std::string_view("wrong"))), SmimeError);
  EXPECT_THROW(credentials_from_pkcs12("not der", password), SmimeError);
}

// bob's certificate re-issued with an RFC 4262 sMIMECapabilities extension listing `ciphers`.
X509Ptr with_capabilities(X509* cert, const std::vector<int>& ciphers, X509* ca, EVP_PKEY* ca_key) {
  X509Ptr copy(X509_dup(cert));
  X509_ALGORS* caps = sk_X509_ALGOR_new_null();
  for (int nid : ciphers) {
    X509_ALGOR* alg = X509_ALGOR_new();
    X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, nullptr);
    sk_X509_ALGOR_push(caps, alg);
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509_ALGORS(caps, &der);
  sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(value, der, len);
  OPENSSL_free(der);
  X509_EXTENSION* ext = X509_EXTENSION_create_by_NID(nullptr, NID_SMIMECapabilities, 0, value);
  X509_add_ext(copy.get(), ext, -1);
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(value);
  X509_set_issuer_name(copy.get(), X509_get_subject_name(ca));
  X509_sign(copy.get(), ca_key, EVP_sha256());
  return copy;
}

TEST_F(Smime, CipherFollowsTheRecipientCertificate) {
  const X509Ptr cbc_only = with_capabilities(bob_.cert.get(), {NID_aes_256_cbc, NID_aes_128_cbc}, ca_.get(), ca_key_.get());
  const X509Ptr gcm_too = with_capabilities(bob_.cert.get(), {NID_aes_256_gcm, NID_aes_256_cbc}, ca_.get(), ca_key_.get());
  EXPECT_EQ(choose_cipher({bob_.cert.get(), alice_.cert.get()}), ContentCipher::aes_256_gcm);  // nothing listed
  EXPECT_EQ(choose_cipher({gcm_too.get(), alice_.cert.get()}), ContentCipher::aes_256_gcm);
  EXPECT_EQ(choose_cipher({cbc_only.get(), alice_.cert.get()}), ContentCipher::aes_256_cbc);  // one says no GCM
  ProtectOptions o;
  o.recipients = {cbc_only.get(), alice_.cert.get()};
  o.cipher = choose_cipher(o.recipients);
  const OpenedMessage r = open(message(o), &bob_);
  EXPECT_EQ(r.verdict, Verdict::ok) << r.reason;
  EXPECT_EQ(r.layers, std::vector<Layer>{Layer::enveloped_data});
  EXPECT_EQ(r.content_cipher, "aes-256-cbc");
}

TEST_F(Smime, CbcWhenAsked) {
  ProtectOptions o = sign_as_alice();
  o.recipients = {bob_.cert.get()};
  o.cipher = ContentCipher::aes_256_cbc;
  const std::string m = message(o);
  EXPECT_NE(m.find("smime-type=enveloped-data"), std::string::npos);
  const OpenedMessage r = open(m, &bob_);
  EXPECT_EQ(r.verdict, Verdict::ok) << r.reason;
  EXPECT_EQ(r.layers, (std::vector<Layer>{Layer::enveloped_data, Layer::signed_data}));
  EXPECT_EQ(r.content_cipher, "aes-256-cbc");
}

TEST_F(Smime, CopyStoredWithLfLineEndsStillVerifies) {
  std::string m = message(sign_as_alice());
  m.erase(std::remove(m.begin(), m.end(), '\r'), m.end());
  const OpenedMessage r = open(m);
  EXPECT_EQ(r.verdict, Verdict::ok) << r.reason;
}

TEST_F(Smime, PlainMessageIsNotSmime) {
  const std::string m = send::build_message(spec_).text;
  const OpenedMessage r = open(m, &alice_);
  EXPECT_EQ(r.verdict, Verdict::not_smime);
  EXPECT_TRUE(r.layers.empty());
}

TEST_F(Smime, RefusesNothingToDoAndNoRecipient) {
  EXPECT_THROW(protect_entity(entity(), ProtectOptions{}), SmimeError);
  EXPECT_THROW(encrypt("x", {}, ContentCipher::aes_256_gcm), SmimeError);
  EXPECT_THROW(cms_from_der("not der"), SmimeError);
  EXPECT_THROW(trust_store_from_pem("no pem here"), SmimeError);
}

TEST(SmimeHeaders, FieldIsUnfoldedAndCaseInsensitive) {
  const std::string m = "Received: from x\r\n by y\r\nfrom: \"A\"\r\n <a@example.org>\r\nSubject: s\r\n\r\nFrom: body@x\r\n";
  EXPECT_EQ(header_field(m, "From"), "\"A\" <a@example.org>");
  EXPECT_EQ(header_field(m, "received"), "from x by y");
  EXPECT_EQ(header_field(m, "To"), "");
}

}  // namespace
}  // namespace postern::tools::smime
