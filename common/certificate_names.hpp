// The names a certificate answers to, for error messages and logs: what a peer's certificate
// says when it is not the one we wanted (tunnel client, relay client).
#pragma once

#include <openssl/x509.h>

#include <string>

namespace postern {

// The DNS and IP subjectAltNames of a certificate (else its subject CN), ", "-joined;
// "(none)" when it carries neither.
std::string certificate_names(X509* cert);

}  // namespace postern
