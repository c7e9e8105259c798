// Certificate checks: fingerprints, CRL loading, deny list (see cert_checks.hpp).
#include "auth/cert_checks.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace postern::auth {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CertCheckError(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::optional<std::string> normalize_fingerprint(std::string_view text) {
  std::string digits;
  for (char c : trim(text)) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    digits += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (digits.size() != 64) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    if (i) out += ':';
    out += digits.substr(i, 2);
  }
  return out;
}

void load_crl_file(X509_STORE* store, const std::filesystem::path& crl_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(crl_pem.c_str(), "r"), &BIO_free);
  if (!bio) throw CertCheckError(crl_pem.string() + ": cannot open CRL file");
  int count = 0;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    int ok = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    if (ok != 1) throw CertCheckError(crl_pem.string() + ": cannot add CRL");
    ++count;
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (count == 0) throw CertCheckError(crl_pem.string() + ": no PEM CRL found");
  // Every certificate of the chain, not just the leaf: a revoked intermediate CA revokes what it
  // signed. So each CA in the chain needs its CRL in the file (OpenSSL fails closed, "unable to
  // get certificate CRL", when one is missing); postern's own pki has one CA and one CRL.
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

X509StorePtr make_verify_store(const std::filesystem::path& ca_pem,
                               const std::optional<std::filesystem::path>& crl_pem) {
  X509StorePtr store(X509_STORE_new());
  if (!store) throw CertCheckError("X509_STORE_new failed");
  if (X509_STORE_load_file(store.get(), ca_pem.c_str()) != 1) {
    ERR_clear_error();
    throw CertCheckError(ca_pem.string() + ": cannot load CA certificates");
  }
  if (crl_pem) load_crl_file(store.get(), *crl_pem);
  return store;
}

std::string subject_common_name(X509* cert) {
  X509_NAME* name = cert ? X509_get_subject_name(cert) : nullptr;
  if (name == nullptr) return {};
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

DenyList::Entries DenyList::parse(std::string_view text, const std::string& name) {
  Entries entries;
  int line_no = 0;
  while (!text.empty() || line_no == 0) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    constexpr std::string_view subject_cn = "subject CN=";
    if (line.substr(0, subject_cn.size()) == subject_cn) {
      auto cn = trim(line.substr(subject_cn.size()));
      if (cn.empty()) throw CertCheckError(name + ":" + std::to_string(line_no) + ": empty CN");
      entries.common_names.emplace(cn);
      continue;
    }
    auto fp = normalize_fingerprint(line);
    if (!fp)
      throw CertCheckError(name + ":" + std::to_string(line_no) +
                           ": expected a SHA-256 fingerprint (64 hex digits) or \"subject CN=...\"");
    entries.fingerprints.insert(*fp);
  }
  return entries;
}

void DenyList::load(const std::filesystem::path& path) {
  Entries entries = parse(read_file(path), path.string());
  std::lock_guard lock(mutex_);
  path_ = path;
  entries_ = std::move(entries);
}

void DenyList::reload() {
  std::filesystem::path path;
  {
    std::lock_guard lock(mutex_);
    path = path_;
  }
  if (!path.empty()) load(path);
}

void DenyList::load_text(std::string_view text, const std::string& name) {
  Entries entries = parse(text, name);
  std::lock_guard lock(mutex_);
  entries_ = std::move(entries);
}

bool DenyList::is_denied(X509* cert) const {
  if (cert == nullptr) return false;
  std::string fp = fingerprint(cert);
  std::string cn = subject_common_name(cert);
  std::lock_guard lock(mutex_);
  return entries_.fingerprints.count(fp) != 0 ||
         (!cn.empty() && entries_.common_names.count(cn) != 0);
}

std::size_t DenyList::size() const {
  std::lock_guard lock(mutex_);
  return entries_.fingerprints.size() + entries_.common_names.size();
}

}  // namespace postern::auth
