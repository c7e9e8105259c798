// CMS operations for S/MIME; see cms.hpp for the contract.
#include "tools/postern/smime/cms.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include <algorithm>
#include <array>

namespace postern::tools::smime {
namespace {

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

[[noreturn]] void fail(const std::string& what) {
  std::string detail = openssl_errors();
  throw SmimeError(detail.empty() ? what : what + ": " + detail);
}

BioPtr read_bio(std::string_view bytes) {
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())), &BIO_free);
  if (!bio) fail("BIO_new_mem_buf");
  return bio;
}

BioPtr write_bio() {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) fail("BIO_new");
  return bio;
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string to_der(CMS_ContentInfo* cms) {
  auto out = write_bio();
  if (i2d_CMS_bio(out.get(), cms) != 1) fail("cannot encode the CMS structure");
  return drain(out.get());
}

bool can_auth_envelope(X509* cert) {
  const int id = EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
  return id == EVP_PKEY_RSA || id == EVP_PKEY_EC;
}

// RFC 8551 2.7.1.2 / RFC 5753: ECDH recipients get the X9.63 KDF over SHA-256 (OpenSSL's default
// is SHA-1); RSA recipients keep PKCS#1 v1.5, which every S/MIME reader has.
void add_recipient(CMS_ContentInfo* cms, X509* cert) {
  CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms, cert, CMS_KEY_PARAM);
  if (ri == nullptr) fail("cannot add a recipient (is it an RSA or EC certificate?)");
  if (EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) != EVP_PKEY_EC) return;
  EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
  if (pctx == nullptr || EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0) fail("cannot set the ECDH KDF");
}

// RFC 4262: a certificate may list the recipient's ciphers in an sMIMECapabilities extension
// (SEQUENCE OF AlgorithmIdentifier). Listed without AES-256-GCM: the recipient said it cannot
// read GCM. Absent: nothing is known, and RFC 8551 2.7.1.2 says AES-256-GCM.
bool capabilities_allow_gcm(X509* cert) {
  const int at = X509_get_ext_by_NID(cert, NID_SMIMECapabilities, -1);
  if (at < 0) return true;
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(cert, at));
  const unsigned char* p = ASN1_STRING_get0_data(value);
  X509_ALGORS* caps = d2i_X509_ALGORS(nullptr, &p, ASN1_STRING_length(value));
  if (caps == nullptr) {
    ERR_clear_error();
    return false;  // unreadable: take the cipher every reader has
  }
  bool gcm = false;
  for (int i = 0; i < sk_X509_ALGOR_num(caps); ++i) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, sk_X509_ALGOR_value(caps, i));
    if (OBJ_obj2nid(oid) == NID_aes_256_gcm) gcm = true;
  }
  sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
  return gcm;
}

}  // namespace

std::string_view to_string(ContentCipher cipher) {
  return cipher == ContentCipher::aes_256_gcm ? "aes-256-gcm" : "aes-256-cbc";
}

std::string openssl_errors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  for (unsigned long code; (code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0;) {
    std::array<char, 256> buf{};
    ERR_error_string_n(code, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') out += std::string(" (") + data + ")";
  }
  return out;
}

ContentCipher choose_cipher(const std::vector<X509*>& recipients) {
  for (X509* cert : recipients) {
    if (!can_auth_envelope(cert) || !capabilities_allow_gcm(cert)) return ContentCipher::aes_256_cbc;
  }
  return ContentCipher::aes_256_gcm;
}

std::string sign_detached(std::string_view content, X509* cert, EVP_PKEY* key) {
  constexpr unsigned kFlags = CMS_DETACHED | CMS_BINARY;
  CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, kFlags | CMS_PARTIAL));
  if (!cms) fail("CMS_sign");
  // SHA-256 named, not left to the key type's default: micalg=sha-256 in the header must match.
  if (CMS_add1_signer(cms.get(), cert, key, EVP_sha256(), kFlags) == nullptr)
    fail("cannot sign with this certificate and key (do they match?)");
  auto in = read_bio(content);
  if (CMS_final(cms.get(), in.get(), nullptr, kFlags) != 1) fail("signing failed");
  return to_der(cms.get());
}

std::string encrypt(std::string_view content, const std::vector<X509*>& recipients, ContentCipher cipher) {
  if (recipients.empty()) throw SmimeError("no recipient certificate to encrypt to");
  const EVP_CIPHER* evp = cipher == ContentCipher::aes_256_gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
  // An AEAD cipher makes CMS_encrypt build AuthEnvelopedData (RFC 5083) instead of EnvelopedData.
  CmsPtr cms(CMS_encrypt(nullptr, nullptr, evp, CMS_BINARY | CMS_PARTIAL));
  if (!cms) fail("CMS_encrypt");
  for (X509* cert : recipients) add_recipient(cms.get(), cert);
  auto in = read_bio(content);
  if (CMS_final(cms.get(), in.get(), nullptr, CMS_BINARY) != 1) fail("encryption failed");
  return to_der(cms.get());
}

Verified verify(CMS_ContentInfo* cms, const std::string* detached, X509_STORE* store) {
  Verified result;
  // No CMS_BINARY: the content is hashed with CRLF line ends whatever the copy on disk has.
  // First the signature alone (the signer's certificate is taken from the message, unchecked),
  // then the same with the certificate checked against the store: the first failing means
  // altered, only the second means untrusted.
  const auto run = [&](X509_STORE* with, unsigned flags) {
    auto out = write_bio();
    BioPtr content(nullptr, &BIO_free);
    if (detached != nullptr) content = read_bio(*detached);
    const bool good = CMS_verify(cms, nullptr, with, content.get(), out.get(), flags) == 1;
    if (!good) result.error = openssl_errors();
    result.content = detached != nullptr ? *detached : drain(out.get());
    return good;
  };
  result.intact = run(nullptr, CMS_NO_SIGNER_CERT_VERIFY);
  result.ok = result.intact && run(store, 0);
  STACK_OF(X509)* signers = CMS_get0_signers(cms);
  for (int i = 0; i < sk_X509_num(signers); ++i) {
    X509* cert = sk_X509_value(signers, i);
    X509_up_ref(cert);
    result.signers.emplace_back(cert);
  }
  sk_X509_free(signers);
  if (result.signers.empty()) {
    // When verification failed before the signers were resolved, take them from the certificates
    // the message carries (matched by issuer and serial).
    STACK_OF(X509)* certs = CMS_get1_certs(cms);
    STACK_OF(CMS_SignerInfo)* infos = CMS_get0_SignerInfos(cms);
    for (int i = 0; i < sk_CMS_SignerInfo_num(infos); ++i) {
      for (int j = 0; j < sk_X509_num(certs); ++j) {
        X509* cert = sk_X509_value(certs, j);
        if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(infos, i), cert) == 0) {
          X509_up_ref(cert);
          result.signers.emplace_back(cert);
        }
      }
    }
    sk_X509_pop_free(certs, X509_free);
  }
  ERR_clear_error();
  return result;
}

Decrypted decrypt(CMS_ContentInfo* cms, X509* cert, EVP_PKEY* key) {
  Decrypted result;
  auto out = write_bio();
  result.ok = CMS_decrypt(cms, key, cert, nullptr, out.get(), CMS_BINARY) == 1;
  if (!result.ok) {
    result.error = openssl_errors();
    return result;
  }
  result.content = drain(out.get());
  return result;
}

namespace {

// One DER element header at p (RFC 5652 structures are DER once OpenSSL re-encodes them).
struct Element {
  int tag = 0;
  int cls = 0;
  long length = 0;
  const unsigned char* body = nullptr;
};
bool read_element(const unsigned char*& p, const unsigned char* end, Element& e) {
  const unsigned char* q = p;
  const int ret = ASN1_get_object(&q, &e.length, &e.tag, &e.cls, end - p);
  if ((ret & 0x80) != 0 || e.length > end - q) return false;
  e.body = q;
  p = q;
  return true;
}
bool skip_element(const unsigned char*& p, const unsigned char* end) {
  Element e;
  if (!read_element(p, end, e)) return false;
  p = e.body + e.length;
  return true;
}

}  // namespace

std::string content_cipher_name(CMS_ContentInfo* cms) {
  const int type = OBJ_obj2nid(CMS_get0_type(cms));
  if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) return "";
  const std::string der = to_der(cms);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  Element e;
  // ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
  if (!read_element(p, end, e) || !skip_element(p, end) || !read_element(p, end, e)) return "";
  // (Auth)EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos,
  //   (auth)encryptedContentInfo SEQUENCE { contentType, contentEncryptionAlgorithm, ... } ...}
  if (!read_element(p, end, e) || !skip_element(p, end)) return "";
  const unsigned char* peek = p;
  if (!read_element(peek, end, e)) return "";
  if (e.cls == V_ASN1_CONTEXT_SPECIFIC && e.tag == 0 && !skip_element(p, end)) return "";
  if (!skip_element(p, end) || !read_element(p, end, e) || !skip_element(p, end) || !read_element(p, end, e))
    return "";
  const unsigned char* oid = p;
  ASN1_OBJECT* obj = d2i_ASN1_OBJECT(nullptr, &oid, end - p);
  if (obj == nullptr) {
    ERR_clear_error();
    return "";
  }
  const int nid = OBJ_obj2nid(obj);
  ASN1_OBJECT_free(obj);
  const char* name = nid == NID_undef ? nullptr : OBJ_nid2ln(nid);
  return name == nullptr ? "" : name;
}

Credentials credentials_from_pkcs12(std::string_view der, const SecretBytes& password) {
  auto in = read_bio(der);
  std::unique_ptr<PKCS12, decltype(&PKCS12_free)> p12(d2i_PKCS12_bio(in.get(), nullptr), &PKCS12_free);
  if (!p12) fail("not a PKCS#12 file");
  SecretBytes pass(password.size() + 1);  // NUL-terminated, wiped
  std::copy(password.span().begin(), password.span().end(), pass.data());
  if (PKCS12_verify_mac(p12.get(), reinterpret_cast<const char*>(pass.data()), -1) != 1) {
    ERR_clear_error();
    throw SmimeError("wrong password for the PKCS#12 file");
  }
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  if (PKCS12_parse(p12.get(), reinterpret_cast<const char*>(pass.data()), &key, &cert, nullptr) != 1)
    fail("cannot read the PKCS#12 file");
  Credentials c{X509Ptr(cert), EvpPkeyPtr(key)};
  if (!c.cert || !c.key) throw SmimeError("the PKCS#12 file holds no certificate with its key");
  return c;
}

X509StorePtr trust_store_from_pem(std::string_view pem) {
  X509StorePtr store(X509_STORE_new());
  if (!store) fail("X509_STORE_new");
  auto in = read_bio(pem);
  int count = 0;
  for (X509* cert; (cert = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) != nullptr; ++count) {
    const int ok = X509_STORE_add_cert(store.get(), cert);
    X509_free(cert);
    if (ok != 1) fail("cannot add a CA certificate");
  }
  ERR_clear_error();  // the end of the PEM file
  if (count == 0) throw SmimeError("no PEM certificate in the CA file");
  return store;
}

CmsPtr cms_from_der(std::string_view der) {
  auto in = read_bio(der);
  CmsPtr cms(d2i_CMS_bio(in.get(), nullptr));
  if (!cms) fail("not a CMS structure");
  return cms;
}

}  // namespace postern::tools::smime
