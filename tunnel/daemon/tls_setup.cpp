// TLS contexts of the tunnel control channel (see tls_setup.hpp).
#include "tunnel/daemon/tls_setup.hpp"

#include "auth/cert_checks.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <stdexcept>

namespace postern::tunnel::daemon {
namespace {

void check(int ok, const std::string& what) {
  if (ok != 1) throw std::runtime_error(what + ": " + openssl_error_text());
}

void load_certificate_and_key(asio::ssl::context& ctx, const std::filesystem::path& cert,
                              const std::filesystem::path& key) {
  check(SSL_CTX_use_certificate_chain_file(ctx.native_handle(), cert.c_str()),
        "certificate " + cert.string());
  check(SSL_CTX_use_PrivateKey_file(ctx.native_handle(), key.c_str(), SSL_FILETYPE_PEM),
        "private key " + key.string());
  check(SSL_CTX_check_private_key(ctx.native_handle()),
        "private key " + key.string() + " does not match " + cert.string());
}

void restrict_to_tls13(asio::ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  // TLS 1.3 suites are all AEAD; prefer AES-256-GCM, then ChaCha20.
  SSL_CTX_set_ciphersuites(native, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
}

int g_pin_index = -1;  // ex_data slot holding the expected fingerprint (std::string*)

int verify_with_pin(int preverified, X509_STORE_CTX* store) {
  SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* pin = static_cast<const std::string*>(SSL_get_ex_data(ssl, g_pin_index));
  if (!pin) return preverified;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;  // the chain is judged by its leaf
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  if (auth::fingerprint(leaf) == *pin) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

}  // namespace

std::string openssl_error_text() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (!last) return "unknown error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

void install_client_verify_store(SSL_CTX* ctx, const config::TunnelServerConfig& cfg) {
  try {
    auth::X509StorePtr store = auth::make_verify_store(*cfg.client_ca, cfg.crl);
    SSL_CTX_set1_cert_store(ctx, store.get());
  } catch (const auth::CertCheckError& e) {
    throw std::runtime_error(e.what());
  }
}

asio::ssl::context make_server_tls_context(const config::TunnelServerConfig& cfg) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  restrict_to_tls13(ctx);
  load_certificate_and_key(ctx, cfg.certificate, cfg.private_key);
  if (cfg.client_ca) {
    install_client_verify_store(ctx.native_handle(), cfg);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.client_ca->c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    // Ask for a certificate; a presented one must verify. Password users may have none.
    SSL_CTX_set_verify(ctx.native_handle(), SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

asio::ssl::context make_client_tls_context(const config::TunnelClientConfig& cfg) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  restrict_to_tls13(ctx);
  if (cfg.certificate && cfg.private_key) load_certificate_and_key(ctx, *cfg.certificate, *cfg.private_key);
  if (cfg.ca) {
    check(SSL_CTX_load_verify_locations(ctx.native_handle(), cfg.ca->c_str(), nullptr),
          "ca " + cfg.ca->string());
  }
  if (g_pin_index < 0) g_pin_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  SSL_CTX_set_verify(ctx.native_handle(), SSL_VERIFY_PEER, cfg.server_fingerprint && !cfg.ca ? verify_with_pin : nullptr);
  return ctx;
}

void prepare_client_connection(SSL* ssl, const config::TunnelClientConfig& cfg, const std::string& name) {
  in6_addr probe{};
  bool is_ip = inet_pton(AF_INET, name.c_str(), &probe) == 1 || inet_pton(AF_INET6, name.c_str(), &probe) == 1;
  if (!is_ip) {
    // SSL_set_tlsext_host_name() spelled out: the macro uses a C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             static_cast<void*>(const_cast<char*>(name.c_str())));
  }
  if (cfg.ca) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  if (cfg.server_fingerprint && !cfg.ca) {
    // The string lives in cfg, which outlives every connection of the client.
    SSL_set_ex_data(ssl, g_pin_index, const_cast<std::string*>(&*cfg.server_fingerprint));
  }
}

std::optional<std::string> peer_identity(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  std::string cn = auth::subject_common_name(cert);
  return cn.empty() ? auth::fingerprint(cert) : cn;
}

std::string describe_session(SSL* ssl) {
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

}  // namespace postern::tunnel::daemon
