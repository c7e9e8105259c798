// TLS server context and helpers (see tls.hpp).
#include "smtp/server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace postern::smtp::server {
namespace {

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only (GCM, ChaCha20-Poly1305), as in the
// Mozilla "intermediate" profile. TLS 1.3 suites are all AEAD and left at OpenSSL's default.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace

std::string openssl_error_text() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown TLS error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

asio::ssl::context make_server_context(const std::filesystem::path& certificate,
                                       const std::filesystem::path& private_key) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    throw std::runtime_error("smtp: cannot set the TLS 1.2 cipher list: " + openssl_error_text());
  }
  if (SSL_CTX_use_certificate_chain_file(native, certificate.c_str()) != 1) {
    throw std::runtime_error("smtp: cannot load certificate " + certificate.string() + ": " +
                             openssl_error_text());
  }
  if (SSL_CTX_use_PrivateKey_file(native, private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("smtp: cannot load private key " + private_key.string() + ": " +
                             openssl_error_text());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("smtp: private key " + private_key.string() +
                             " does not match certificate " + certificate.string());
  }
  return ctx;
}

NegotiatedTls describe_tls(const SSL* ssl) {
  NegotiatedTls out;
  if (ssl == nullptr) return out;
  out.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) out.cipher = SSL_CIPHER_get_name(cipher);
  return out;
}

}  // namespace postern::smtp::server
