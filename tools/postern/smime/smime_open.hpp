// The receiving side of S/MIME (RFC 8551 3): opens a delivered message (a Maildir file: the
// headers our server added, then the message as sent) layer by layer: application/pkcs7-mime
// enveloped or authEnveloped data is decrypted with the reader's certificate and key, a
// multipart/signed (or opaque signed-data) signature is verified against the trust store, and
// the entity inside is opened again, until plain content remains (at most kMaxLayers deep).
// RFC 8550 3: the From address must be one of the signer certificate's mail addresses. An entity
// whose Content-Type says S/MIME but whose CMS does not parse counts as that layer, damaged.
// Contract: bytes in, a report out; no files. MIME parsing is OpenSSL's (SMIME_read_CMS), which
// reads part 1 of a multipart/signed with CRLF line ends however the copy on disk ends them.
#pragma once

#include "tools/postern/smime/cms.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::smime {

inline constexpr int kMaxLayers = 4;

enum class Layer { signed_data, enveloped_data, auth_enveloped_data };
std::string_view to_string(Layer layer);  // "signed", "enveloped-data (AES-CBC)", ...

// What a script acts on; the exit codes of `postern smime open` follow it (docs/smime.md). When
// several apply the first in this order wins: not_smime, cannot_decrypt, bad_signature,
// untrusted_signer, from_mismatch.
enum class Verdict {
  ok,                // every layer opened; every signature intact and trusted, From matches
  bad_signature,     // a signature does not match the content: altered after signing
  untrusted_signer,  // intact, but the signer's certificate does not chain to the CA for mail
  from_mismatch,     // intact and trusted, but From is not an address of the signer's certificate
  cannot_decrypt,    // encrypted, and not to this certificate, or altered, or no key given
  not_smime,         // the message has no S/MIME layer at all
};
std::string_view to_string(Verdict verdict);

struct SignerReport {
  std::string subject;              // RFC 2253 form, e.g. "CN=alice"
  std::string issuer;
  std::vector<std::string> emails;  // subjectAltName rfc822Name (and emailAddress) entries
};

// Subject, issuer and mail addresses of a certificate (a signer's, or the reader's own).
SignerReport report_of_certificate(X509* cert);

struct OpenOptions {
  X509_STORE* trust = nullptr;  // CA(s) for signatures; required to verify
  X509* cert = nullptr;         // the reader's certificate and key, to decrypt
  EVP_PKEY* key = nullptr;
};

struct OpenedMessage {
  std::vector<Layer> layers;  // outermost first
  bool decrypted = false;
  std::string decrypt_error;
  std::string content_cipher;  // of the outermost encrypted layer: "aes-256-gcm", "aes-256-cbc"
  bool signature_intact = false;  // meaningful when a signed layer was seen
  bool signature_ok = false;      // intact and trusted
  std::string signature_error;
  std::vector<SignerReport> signers;
  std::string from;           // the address in the message's From header ("" if none)
  bool from_matches = false;  // from is one of the signers' addresses
  std::string content;        // the innermost entity (headers + body), when reached
  Verdict verdict = Verdict::not_smime;
  std::string reason;         // one sentence for a verdict other than ok

  bool is_signed() const;
  bool is_encrypted() const;
};

OpenedMessage open_message(std::string_view message, const OpenOptions& options);

// The opened message as a mail reader shows it: the header fields of `message` except its MIME
// ones (Content-*, MIME-Version), then "MIME-Version: 1.0" and the innermost entity `content`
// (its own Content-* fields, the blank line, the body). The outer header fields are not
// protected by S/MIME (RFC 8551 3.1): only the entity's fields and body were signed/encrypted.
std::string reassemble(std::string_view message, std::string_view content);

// The unfolded value of the first header field `name` (case-insensitive) in the message's
// header block, or "" (exposed for tests).
std::string header_field(std::string_view message, std::string_view name);

}  // namespace postern::tools::smime
