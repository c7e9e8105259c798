// Opening received S/MIME messages; see smime_open.hpp for the contract.
#include "tools/postern/smime/smime_open.hpp"

#include "tools/postern/send/message.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace postern::tools::smime {
namespace {

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// One S/MIME layer read by OpenSSL's MIME parser: the CMS structure and, for multipart/signed,
// the first part. nullptr when `entity` is not S/MIME.
struct ReadLayer {
  CmsPtr cms;
  bool has_detached = false;
  std::string detached;
};

ReadLayer read_layer(std::string_view entity) {
  ReadLayer layer;
  BioPtr in(BIO_new_mem_buf(entity.data(), static_cast<int>(entity.size())), &BIO_free);
  if (!in) return layer;
  BIO* content = nullptr;
  layer.cms.reset(SMIME_read_CMS(in.get(), &content));
  if (content != nullptr) {
    char* data = nullptr;
    long len = BIO_get_mem_data(content, &data);
    layer.detached.assign(data, static_cast<std::size_t>(len));
    layer.has_detached = true;
    BIO_free(content);
  }
  ERR_clear_error();  // "not S/MIME" is an answer here, not an error
  return layer;
}

void check_from(OpenedMessage& m) {
  const std::string from = lower(m.from);
  for (const auto& s : m.signers) {
    for (const auto& e : s.emails) {
      if (!from.empty() && lower(e) == from) m.from_matches = true;
    }
  }
}

void open_signed(OpenedMessage& m, CMS_ContentInfo* cms, const ReadLayer& layer, const OpenOptions& options,
                 std::string& next) {
  m.layers.push_back(Layer::signed_data);
  if (options.trust == nullptr) throw SmimeError("no trust store to verify the signature with");
  Verified v = verify(cms, layer.has_detached ? &layer.detached : nullptr, options.trust);
  for (auto& cert : v.signers) m.signers.push_back(report_of_certificate(cert.get()));
  // Several signed layers (rare, e.g. a signed message signed again): all must hold.
  const bool first_signed = std::count(m.layers.begin(), m.layers.end(), Layer::signed_data) == 1;
  m.signature_intact = (first_signed || m.signature_intact) && v.intact;
  m.signature_ok = (first_signed || m.signature_ok) && v.ok;
  if (!v.ok && m.signature_error.empty()) m.signature_error = v.error;
  next = std::move(v.content);
}

bool open_enveloped(OpenedMessage& m, CMS_ContentInfo* cms, Layer kind, const OpenOptions& options, std::string& next) {
  m.layers.push_back(kind);
  if (m.content_cipher.empty()) m.content_cipher = content_cipher_name(cms);
  if (options.key == nullptr || options.cert == nullptr) {
    m.decrypt_error = "the message is encrypted; give the recipient's certificate and key";
    return false;
  }
  Decrypted d = decrypt(cms, options.cert, options.key);
  if (!d.ok) {
    m.decrypt_error = d.error.empty() ? "decryption failed" : d.error;
    return false;
  }
  m.decrypted = true;
  next = std::move(d.content);
  return true;
}

// An entity labelled S/MIME whose CMS did not parse: the layer it claims to be, failed. Returns
// false when the label is not S/MIME either (plain content: the end of the layers).
bool record_damaged(OpenedMessage& m, std::string_view entity) {
  const std::string type = lower(header_field(entity, "Content-Type"));
  const bool pkcs7 = type.find("pkcs7-mime") != std::string::npos;
  if (type.rfind("multipart/signed", 0) == 0 || (pkcs7 && type.find("signed-data") != std::string::npos)) {
    m.layers.push_back(Layer::signed_data);
    m.signature_intact = m.signature_ok = false;
    if (m.signature_error.empty()) m.signature_error = "the signed entity does not parse (damaged)";
    return true;
  }
  if (pkcs7 && type.find("compressed-data") == std::string::npos) {
    m.layers.push_back(type.find("authenveloped") != std::string::npos ? Layer::auth_enveloped_data
                                                                          : Layer::enveloped_data);
    m.decrypt_error = "the encrypted entity does not parse (damaged)";
    return true;
  }
  return false;
}

void set_verdict(OpenedMessage& m) {
  if (m.layers.empty()) {
    m.verdict = Verdict::not_smime;
    m.reason = "the message is neither signed nor encrypted (no S/MIME layer)";
  } else if (m.is_encrypted() && !m.decrypted) {
    m.verdict = Verdict::cannot_decrypt;
    m.reason = "cannot decrypt: " + m.decrypt_error;
  } else if (m.is_signed() && !m.signature_intact) {
    m.verdict = Verdict::bad_signature;
    m.reason = "the signature does not match the content (altered after signing): " + m.signature_error;
  } else if (m.is_signed() && !m.signature_ok) {
    m.verdict = Verdict::untrusted_signer;
    m.reason = "the signature is intact but the signer is not trusted: " + m.signature_error;
  } else if (m.is_signed() && !m.from_matches) {
    m.verdict = Verdict::from_mismatch;
    m.reason = "the From address <" + m.from + "> is not in the signer's certificate (RFC 8550 3)";
  } else {
    m.verdict = Verdict::ok;
  }
}

bool is_mime_field(std::string_view line) {
  const std::string l = lower(line.substr(0, std::min<std::size_t>(line.size(), 13)));
  return l.rfind("content-", 0) == 0 || l.rfind("mime-version:", 0) == 0;
}

}  // namespace

SignerReport report_of_certificate(X509* cert) {
  SignerReport r;
  r.subject = name_text(X509_get_subject_name(cert));
  r.issuer = name_text(X509_get_issuer_name(cert));
  STACK_OF(OPENSSL_STRING)* emails = X509_get1_email(cert);
  for (int i = 0; i < sk_OPENSSL_STRING_num(emails); ++i) r.emails.emplace_back(sk_OPENSSL_STRING_value(emails, i));
  X509_email_free(emails);
  return r;
}

std::string_view to_string(Layer layer) {
  switch (layer) {
    case Layer::signed_data: return "signed";
    case Layer::enveloped_data: return "enveloped-data";
    case Layer::auth_enveloped_data: return "authEnveloped-data";
  }
  return "?";
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::bad_signature: return "bad signature";
    case Verdict::untrusted_signer: return "untrusted signer";
    case Verdict::from_mismatch: return "From is not the signer's";
    case Verdict::cannot_decrypt: return "cannot decrypt";
    case Verdict::not_smime: return "not S/MIME";
  }
  return "?";
}

bool OpenedMessage::is_signed() const {
  return std::find(layers.begin(), layers.end(), Layer::signed_data) != layers.end();
}

bool OpenedMessage::is_encrypted() const {
  return std::any_of(layers.begin(), layers.end(), [](Layer l) { return l != Layer::signed_data; });
}

std::string header_field(std::string_view message, std::string_view name) {
  std::size_t pos = 0;
  std::string value;
  bool in_field = false;
  while (pos < message.size()) {
    std::size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (line.empty()) break;  // end of the header block
    if (line.front() == ' ' || line.front() == '\t') {
      if (in_field) value += line;  // RFC 5322 2.2.3: unfolding removes the CRLF only
      continue;
    }
    if (in_field) break;
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && lower(line.substr(0, colon)) == lower(name)) {
      in_field = true;
      value = std::string(line.substr(colon + 1));
    }
  }
  const auto first = value.find_first_not_of(" \t");
  return first == std::string::npos ? "" : value.substr(first);
}

OpenedMessage open_message(std::string_view message, const OpenOptions& options) {
  OpenedMessage m;
  m.from = send::address_of(header_field(message, "From"));
  std::string entity(message);
  for (int depth = 0; depth < kMaxLayers; ++depth) {
    ReadLayer layer = read_layer(entity);
    if (!layer.cms) {
      if (record_damaged(m, entity)) m.content.clear();
      break;
    }
    std::string next;
    const int type = OBJ_obj2nid(CMS_get0_type(layer.cms.get()));
    if (type == NID_pkcs7_signed) {
      open_signed(m, layer.cms.get(), layer, options, next);
    } else if (type == NID_pkcs7_enveloped || type == NID_id_smime_ct_authEnvelopedData) {
      const Layer kind = type == NID_pkcs7_enveloped ? Layer::enveloped_data : Layer::auth_enveloped_data;
      if (!open_enveloped(m, layer.cms.get(), kind, options, next)) break;
    } else {
      break;  // compressed-data and others: not opened here
    }
    entity = std::move(next);
    m.content = entity;
  }
  check_from(m);
  set_verdict(m);
  return m;
}

std::string reassemble(std::string_view message, std::string_view content) {
  std::string out;
  std::size_t pos = 0;
  bool keep = false;
  while (pos < message.size()) {
    std::size_t end = message.find('\n', pos);
    end = end == std::string_view::npos ? message.size() : end + 1;
    const std::string_view line = message.substr(pos, end - pos);
    pos = end;
    if (line == "\r\n" || line == "\n") break;  // end of the header block
    if (line.front() != ' ' && line.front() != '\t') keep = !is_mime_field(line);
    if (keep) out += line;
  }
  out += "MIME-Version: 1.0\r\n";
  out += content;
  return out;
}

}  // namespace postern::tools::smime
