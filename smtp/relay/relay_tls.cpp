// Relay client TLS (see relay_tls.hpp).
#include "smtp/relay/relay_tls.hpp"

#include "common/host_port.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <system_error>

namespace postern::smtp::relay {
namespace {

// Same profile as the SMTP listeners (smtp/server/tls.cpp): forward secrecy and AEAD only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_error_text() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return {};
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

}  // namespace

asio::ssl::context make_relay_context(bool verify, const std::optional<std::filesystem::path>& ca) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
    throw std::runtime_error("smtp.relay: cannot set the TLS 1.2 cipher list: " + openssl_error_text());
  }
  if (!verify) {
    ctx.set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (ca) {
    if (SSL_CTX_load_verify_locations(native, ca->c_str(), nullptr) != 1) {
      throw std::runtime_error("smtp.relay: cannot load CA file " + ca->string() + ": " + openssl_error_text());
    }
  } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
    throw std::runtime_error("smtp.relay: cannot load the system CA store: " + openssl_error_text());
  }
  return ctx;
}

bool prepare_peer_check(SSL* ssl, const std::string& name, bool verify) {
  const bool ip = is_ip_literal(name);
  // SNI (RFC 6066 3); SSL_set_tlsext_host_name is a macro with a C cast, so call SSL_ctrl.
  if (!ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(name.c_str())) != 1) {
    return false;
  }
  if (!verify) return true;
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, name.c_str()) == 1;
}

TlsSummary describe_tls(const SSL* ssl, bool verify) {
  TlsSummary out;
  if (ssl == nullptr) return out;
  out.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) out.cipher = SSL_CIPHER_get_name(cipher);
  out.verified = verify && SSL_get_verify_result(ssl) == X509_V_OK && SSL_get0_peer_certificate(ssl) != nullptr;
  return out;
}

std::string handshake_failure(const SSL* ssl, const std::string& wanted, const std::string& leaf_names,
                              const std::string& asio_message) {
  std::string queued = openssl_error_text();
  const long result = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return "certificate name mismatch: wanted " + wanted + ", certificate names " +
           (leaf_names.empty() ? "(unknown)" : leaf_names);
  }
  if (result != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  }
  return queued.empty() ? asio_message : queued;
}

}  // namespace postern::smtp::relay
