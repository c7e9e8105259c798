// Fuzzes the text decoders of auth/: "$scrypt$..." hash strings (decoding only; no scrypt
// runs) and deny list files. They must never crash, and an accepted hash must round-trip.
#include "auth/cert_checks.hpp"
#include "auth/users_db.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace postern::auth;
  if (auto h = decode_password_hash(text)) {
    auto again = decode_password_hash(encode_password_hash(*h));
    if (!again || again->salt != h->salt || again->hash != h->hash || !(again->params == h->params)) std::abort();
  }
  DenyList deny;
  try {
    deny.load_text(text, "fuzz");
  } catch (const CertCheckError&) {
  }
  return 0;
}
