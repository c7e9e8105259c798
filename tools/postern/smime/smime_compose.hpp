// The MIME side of sending S/MIME 4.0 (RFC 8551 3): wraps a message's content entity (its
// Content-Type, Content-Transfer-Encoding and body, as send/message.hpp builds it) into
//   signed:      multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256
//                (RFC 8551 3.5.3, RFC 1847): part 1 the entity, part 2 the detached signature;
//   enveloped:   application/pkcs7-mime; smime-type=authEnveloped-data (AES-256-GCM) or
//                enveloped-data (AES-256-CBC) (RFC 8551 3.3, 3.4);
//   both:        the signed entity enveloped (sign first, so the signature is hidden too).
// Contract: pure assembly, no I/O; the boundary comes from the caller's random token and is
// lengthened until it occurs nowhere in what it delimits. The entity is canonicalised (CRLF,
// RFC 8551 3.1.1) before it is signed, and the bytes signed are placed in part 1 unchanged, so
// a reader hashing part 1 (the CRLF before the delimiter belongs to the delimiter, RFC 2046
// 5.1.1) hashes exactly what was signed. The entity must be 7-bit (RFC 8551 3.1.2: a relay that
// downgrades 8-bit text would break the signature): build it with server_has_8bitmime = false.
#pragma once

#include "tools/postern/smime/cms.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::smime {

struct ProtectOptions {
  X509* sign_cert = nullptr;  // sign when set (with sign_key)
  EVP_PKEY* sign_key = nullptr;
  std::vector<X509*> recipients;  // encrypt when not empty (include the sender to read the copy)
  ContentCipher cipher = ContentCipher::aes_256_gcm;
  std::string boundary_token;  // random, e.g. the Message-ID's token
};

// The protected entity: MIME headers (Content-Type ...), a blank line, the body; CRLF throughout.
// Put it after the message's own headers and "MIME-Version: 1.0".
std::string protect_entity(std::string_view content_entity, const ProtectOptions& options);

// The two steps, for callers that want one. signed_entity signs canonical_crlf(entity).
std::string signed_entity(std::string_view content_entity, X509* cert, EVP_PKEY* key, std::string_view boundary_token);
std::string enveloped_entity(std::string_view content_entity, const std::vector<X509*>& recipients, ContentCipher cipher);

// "=_postern_s_<token>", lengthened until it is not found in `content`.
std::string choose_boundary(std::string_view token, std::string_view content);

// CRLF line ends (bare LF and CR become CRLF); text already in CRLF is returned unchanged.
std::string canonical_crlf(std::string_view text);

}  // namespace postern::tools::smime
