// CMS operations for S/MIME; see cms.hpp for the contract.
#include "tools/postern/smime/cms.hpp"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

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

}  // namespace

std::string_view to_string(ContentCipher cipher) {
  return cipher == ContentCipher::aes_256_gcm ? "aes-256-gcm" : "aes-256-cbc";
}

std::string openssl_errors() {
  std::string out;
  for (unsigned long code; (code = ERR_get_error()) != 0;) {
    std::array<char, 256> buf{};
    ERR_error_string_n(code, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
  }
  return out;
}

ContentCipher choose_cipher(const std::vector<X509*>& recipients) {
  for (X509* cert : recipients) {
    if (!can_auth_envelope(cert)) return ContentCipher::aes_256_cbc;
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
  auto out = write_bio();
  BioPtr content(nullptr, &BIO_free);
  if (detached != nullptr) content = read_bio(*detached);
  // No CMS_BINARY: the content is hashed with CRLF line ends whatever the copy on disk has.
  result.ok = CMS_verify(cms, nullptr, store, content.get(), out.get(), 0) == 1;
  if (!result.ok) result.error = openssl_errors();
  result.content = drain(out.get());
  if (detached != nullptr) result.content = *detached;
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
