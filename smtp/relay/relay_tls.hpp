// TLS for the relay client: the client context for [smtp.relay] tls = "verify" / "encrypt"
// (TLS 1.2 minimum; for 1.2 only ECDHE with AES-GCM or ChaCha20-Poly1305; every TLS 1.3 suite),
// the per-connection peer check (SNI, SSL_set1_host or the IP literal), and the words the log
// needs after a handshake (version, cipher, verified, and why verification failed).
// Contract: make_relay_context() runs at start-up and throws std::runtime_error naming the CA
// file it could not use; everything else never throws.
#pragma once

#include <asio/ssl.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace postern::smtp::relay {

// verify = true: chain checked against `ca` (else the system store) and the host name checked.
asio::ssl::context make_relay_context(bool verify, const std::optional<std::filesystem::path>& ca);

// Before the handshake: SNI (DNS names only, RFC 6066 3) and, when verifying, the name the
// certificate must carry (an IP literal is matched against iPAddress SANs). False on failure.
bool prepare_peer_check(SSL* ssl, const std::string& name, bool verify);

struct TlsSummary {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
  bool verified = false;
};
TlsSummary describe_tls(const SSL* ssl, bool verify);

// Why the handshake failed, for the log: "certificate name mismatch: wanted mx1.site.example,
// certificate names mx9.site.example, mail.other.example", "certificate verify failed: unable
// to get local issuer certificate", or the OpenSSL error text. Clears the error queue.
// `leaf_names`: certificate_names() of the peer's certificate, captured during verification
// (OpenSSL keeps no peer certificate after a failed client handshake).
std::string handshake_failure(const SSL* ssl, const std::string& wanted, const std::string& leaf_names,
                              const std::string& asio_message);

}  // namespace postern::smtp::relay
