// S/MIME entity assembly; see smime_compose.hpp for the contract.
#include "tools/postern/smime/smime_compose.hpp"

#include "tools/postern/send/message.hpp"

namespace postern::tools::smime {
namespace {

// RFC 2045 6.8: base64 lines of at most 76 characters.
constexpr std::size_t kBase64LineLength = 76;

}  // namespace

std::string canonical_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' || c == '\n') {
      out += "\r\n";
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out += c;
    }
  }
  return out;
}

std::string choose_boundary(std::string_view token, std::string_view content) {
  std::string boundary = "=_postern_s_" + std::string(token);
  // "=_" never occurs in base64; lengthen until the boundary occurs nowhere (RFC 2046 5.1.1).
  while (content.find(boundary) != std::string_view::npos) boundary += "_x";
  return boundary;
}

std::string signed_entity(std::string_view content_entity, X509* cert, EVP_PKEY* key, std::string_view boundary_token) {
  std::string content = canonical_crlf(content_entity);
  if (content.size() < 2 || content.compare(content.size() - 2, 2, "\r\n") != 0) content += "\r\n";
  const std::string signature = sign_detached(content, cert, key);
  const std::string boundary = choose_boundary(boundary_token, content);
  std::string m;
  m += "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n";
  m += " micalg=sha-256; boundary=\"" + boundary + "\"\r\n\r\n";
  m += "This is an S/MIME signed message.\r\n";
  // Part 1 is `content` byte for byte; its own final CRLF is content, the next one the delimiter's.
  m += "--" + boundary + "\r\n" + content;
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n";
  m += send::base64_encode(signature, kBase64LineLength);
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

std::string enveloped_entity(std::string_view content_entity, const std::vector<X509*>& recipients, ContentCipher cipher) {
  const std::string der = encrypt(canonical_crlf(content_entity), recipients, cipher);
  const char* smime_type = cipher == ContentCipher::aes_256_gcm ? "authEnveloped-data" : "enveloped-data";
  std::string m;
  m += "Content-Type: application/pkcs7-mime; smime-type=" + std::string(smime_type) + "; name=\"smime.p7m\"\r\n";
  m += "Content-Transfer-Encoding: base64\r\n";
  m += "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n";
  m += send::base64_encode(der, kBase64LineLength) + "\r\n";
  return m;
}

std::string protect_entity(std::string_view content_entity, const ProtectOptions& options) {
  const bool sign = options.sign_cert != nullptr && options.sign_key != nullptr;
  if (!sign && options.recipients.empty()) throw SmimeError("neither signing nor encrypting was asked for");
  std::string entity = sign ? signed_entity(content_entity, options.sign_cert, options.sign_key, options.boundary_token)
                            : canonical_crlf(content_entity);
  if (options.recipients.empty()) return entity;
  return enveloped_entity(entity, options.recipients, options.cipher);
}

}  // namespace postern::tools::smime
