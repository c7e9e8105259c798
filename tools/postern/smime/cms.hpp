// The CMS (RFC 5652) operations behind S/MIME 4.0 (RFC 8551), over OpenSSL's CMS API: a
// detached SHA-256 signature, enveloping to recipient certificates (AES-256-GCM
// AuthEnvelopedData, RFC 5083/5084, or AES-256-CBC EnvelopedData), and the matching verify and
// decrypt. Contract: bytes in, DER or bytes out; no files, no sockets, no clock (OpenSSL's own
// RNG makes the content-encryption keys). The content is used exactly as given (CMS_BINARY):
// callers canonicalise it (CRLF) before signing, so the bytes signed are the bytes sent.
// Failures throw SmimeError with OpenSSL's reason appended.
#pragma once

#include "auth/pki.hpp"

#include <openssl/cms.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::smime {

using auth::EvpPkeyPtr;
using auth::X509Ptr;

class SmimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CmsDeleter {
  void operator()(CMS_ContentInfo* c) const { CMS_ContentInfo_free(c); }
};
struct X509StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;

// RFC 8551 2.7: AES-256 GCM is SHOULD+ (authenticated), AES-256 CBC SHOULD- (for older readers).
enum class ContentCipher { aes_256_gcm, aes_256_cbc };
std::string_view to_string(ContentCipher cipher);

// AES-256-GCM when every recipient certificate allows it: its key can take part in an
// AuthEnvelopedData (RSA key transport, EC key agreement: both in OpenSSL 3's CMS), and it
// lists AES-256-GCM in an sMIMECapabilities extension (RFC 4262) or has none (RFC 8551
// 2.7.1.2: nothing known, AES-256-GCM); else AES-256-CBC.
ContentCipher choose_cipher(const std::vector<X509*>& recipients);

// A detached SignedData (DER) over `content`, SHA-256, signed by `cert`/`key` with the signed
// attributes OpenSSL adds (content type, signing time, message digest, S/MIME capabilities);
// `cert` is included so a reader needs only the CA.
std::string sign_detached(std::string_view content, X509* cert, EVP_PKEY* key);

// EnvelopedData or AuthEnvelopedData (DER) of `content` for each recipient (RSA: key transport,
// PKCS#1 v1.5; EC: ECDH with the X9.63 KDF over SHA-256 and AES key wrap, RFC 5753).
std::string encrypt(std::string_view content, const std::vector<X509*>& recipients, ContentCipher cipher);

// The outcome of verify(), in two steps so a reader can tell an altered message from an unknown
// signer: `intact` when the signature matches the content under the key of the certificate it
// names (checked without the store), `ok` when it is also trusted: the signer's certificate
// chains to the store for S/MIME signing (purpose smime_sign: emailProtection when an EKU is
// present), is in its validity period and is not a CA's.
struct Verified {
  bool intact = false;
  bool ok = false;
  std::string error;             // why not, OpenSSL's reason (the certificate check's for !ok)
  std::string content;           // the signed content (embedded or the detached one)
  std::vector<X509Ptr> signers;  // the signers' certificates (also when the check failed)
};
// `detached` is the content of a multipart/signed first part; nullptr for an embedded signature.
// The content is canonicalised to CRLF before hashing, as RFC 8551 3.1.1 asks of receivers.
Verified verify(CMS_ContentInfo* cms, const std::string* detached, X509_STORE* store);

struct Decrypted {
  bool ok = false;
  std::string error;
  std::string content;
};
// Decrypts (Auth)EnvelopedData for the recipient `cert` with `key`; a message not encrypted to
// that certificate, or altered (GCM tag), is !ok.
Decrypted decrypt(CMS_ContentInfo* cms, X509* cert, EVP_PKEY* key);

// The content-encryption algorithm of an (Auth)EnvelopedData, by OpenSSL's long name
// ("aes-256-gcm", "aes-256-cbc"); "" for another content type. Read from the DER (RFC 5652 6.1,
// RFC 5083 2.1: the algorithm of the (auth)encryptedContentInfo), as OpenSSL has no getter.
std::string content_cipher_name(CMS_ContentInfo* cms);

// The certificate and key of a PKCS#12 bundle (as `pki issue --email` writes one). A wrong
// password or a bundle without both throws SmimeError saying so.
struct Credentials {
  X509Ptr cert;
  EvpPkeyPtr key;
};
Credentials credentials_from_pkcs12(std::string_view der, const SecretBytes& password);

// A store holding the CA certificates of a PEM file (the trust anchors for verify).
X509StorePtr trust_store_from_pem(std::string_view pem);

// Parses DER CMS; nullptr-free: throws on garbage.
CmsPtr cms_from_der(std::string_view der);

// OpenSSL's queued errors as one line ("" when none), with the detail text OpenSSL attaches
// ("Verify error:unable to get local issuer certificate"), clearing the queue.
std::string openssl_errors();

}  // namespace postern::tools::smime
