// Certificate checks the TLS adapters call on top of chain verification: CRLs, a local deny
// list, and SHA-256 fingerprints (for clients that pin the server by fingerprint).
// Contract: loading throws CertCheckError naming the file (and line for the deny list); a failed
// reload keeps the previous contents. DenyList is thread-safe. Nothing here logs key material.
// The daemon rebuilds its verify store with make_verify_store() on SIGHUP and installs it with
// SSL_CTX_set1_cert_store() (an X509_STORE cannot drop a CRL once added, so it is replaced).
#pragma once

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::auth {

class CertCheckError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct X509StoreDeleter {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter>;

// "AB:CD:..." (upper-case hex, colons): SHA-256 of the certificate's DER encoding.
std::string fingerprint(X509* cert);
// Accepts 64 hex digits with or without colons (any case); returns the "AB:CD:..." form.
std::optional<std::string> normalize_fingerprint(std::string_view text);

// Adds every CRL in a PEM file to `store` and turns on X509_V_FLAG_CRL_CHECK (leaf only).
// Throws if the file cannot be read or holds no CRL.
void load_crl_file(X509_STORE* store, const std::filesystem::path& crl_pem);

// A fresh store trusting the CA certificates in `ca_pem`, with the CRL (if any) loaded.
X509StorePtr make_verify_store(const std::filesystem::path& ca_pem,
                               const std::optional<std::filesystem::path>& crl_pem);

// Deny list file: one entry per line, '#' comments, blank lines ignored:
//   AB:CD:...:EF          SHA-256 fingerprint (with or without colons)
//   subject CN=alice      the certificate's subject common name, exactly
class DenyList {
 public:
  DenyList() = default;
  DenyList(const DenyList&) = delete;
  DenyList& operator=(const DenyList&) = delete;

  void load(const std::filesystem::path& path);
  void reload();  // re-reads the path given to load(); keeps old contents on error
  // Parses text (for tests); `name` is used in error messages.
  void load_text(std::string_view text, const std::string& name = "deny list");

  bool is_denied(X509* cert) const;
  std::size_t size() const;

 private:
  struct Entries {
    std::set<std::string> fingerprints;
    std::set<std::string> common_names;
  };
  static Entries parse(std::string_view text, const std::string& name);

  mutable std::mutex mutex_;
  std::filesystem::path path_;
  Entries entries_;
};

// The subject's first commonName, or "" if none.
std::string subject_common_name(X509* cert);

}  // namespace postern::auth
