// TLS contexts of the tunnel's control channel (TLS 1.3 only, OpenSSL through asio::ssl).
// Server: its certificate, and when a client CA is configured it asks for (but does not
// require: password users may have none) a client certificate; a presented certificate must
// chain to the client CA and pass the CRL, else the handshake fails. The deny list is checked
// by the caller after the handshake (peer_identity()).
// Client: verifies the server against a CA and a host name/IP, and/or a pinned SHA-256
// fingerprint of the server certificate; presents its own certificate when configured.
// Errors while building a context throw std::runtime_error naming the file that failed.
#pragma once

#include "common/config.hpp"

#include <asio/ssl.hpp>

#include <optional>
#include <string>

namespace postern::tunnel::daemon {

asio::ssl::context make_server_tls_context(const config::TunnelServerConfig& cfg);
// (Re)builds the client-CA + CRL verify store of a server context (startup and SIGHUP).
void install_client_verify_store(SSL_CTX* ctx, const config::TunnelServerConfig& cfg);

asio::ssl::context make_client_tls_context(const config::TunnelClientConfig& cfg);
// Applies per-connection client settings to `ssl`: SNI and the name the certificate must carry
// (`name`: the server being tried, or server_name; OpenSSL copies it), the fingerprint pin.
void prepare_client_connection(SSL* ssl, const config::TunnelClientConfig& cfg, const std::string& name);

// After a successful handshake: the verified peer certificate's identity (subject CN, or the
// SHA-256 fingerprint when it has no CN), or nullopt when the peer presented no certificate.
std::optional<std::string> peer_identity(SSL* ssl);

// "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs.
std::string describe_session(SSL* ssl);

// The last OpenSSL error queue entry as text ("" if none); clears the queue.
std::string openssl_error_text();

}  // namespace postern::tunnel::daemon
