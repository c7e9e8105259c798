// TLS for the SMTP listeners: the server context (RFC 8314 / RFC 3207 policy: TLS 1.2 minimum,
// AEAD ECDHE suites only for 1.2, every TLS 1.3 suite) and small helpers the connection uses
// to tell a TLS ClientHello from plaintext and to describe an established session.
// Contract: make_server_context() runs at start-up and throws std::runtime_error naming the
// file that could not be used; the helpers never throw.
#pragma once

#include <asio/ssl.hpp>

#include <filesystem>
#include <string>

namespace postern::smtp::server {

asio::ssl::context make_server_context(const std::filesystem::path& certificate,
                                       const std::filesystem::path& private_key);

// RFC 8446 5.1: every TLS connection opens with a handshake record, content type 22.
constexpr bool looks_like_tls_record(unsigned char first_byte) { return first_byte == 0x16; }

struct NegotiatedTls {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
};
NegotiatedTls describe_tls(const SSL* ssl);

// The last OpenSSL error queue entry in words (for logs), and clears the queue.
std::string openssl_error_text();

}  // namespace postern::smtp::server
