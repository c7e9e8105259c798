// Certificate names for messages (see certificate_names.hpp).
#include "common/certificate_names.hpp"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include <string_view>

namespace postern {

std::string certificate_names(X509* cert) {
  std::string out;
  auto add = [&out](std::string_view name) {
    if (!out.empty()) out += ", ";
    out += name;
  };
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        add(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        const int length = ASN1_STRING_length(s);
        char text[INET6_ADDRSTRLEN] = {};
        if ((length == 4 || length == 16) &&
            inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text) != nullptr) {
          add(text);
        }
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (out.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) add(cn);
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace postern
