// Fuzzes the SMTP argument and SASL decoders that see a client's bytes before any policy
// (smtp/core/address.hpp, smtp/core/sasl.hpp): MAIL/RCPT paths of both kinds, ESMTP parameters,
// RFC 3461 xtext and RFC 4648 base64 (AUTH responses), and the PLAIN message. None may crash.
// Invariants: an accepted path's mailbox is a valid mailbox (or "" for <>/<Postmaster> where the
// kind allows it) and its rest is a suffix of the input; accepted parameter keywords are upper
// case; encode_xtext() output is valid xtext that decodes to its input (also for what an accepted
// xtext decodes to); base64 round-trips; a parsed PLAIN message has a non-empty
// authcid and password that fit inside the message.
#include "smtp/core/address.hpp"
#include "smtp/core/sasl.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void fuzz_path(std::string_view text, postern::smtp::PathKind kind) {
  using namespace postern::smtp;
  ParsedPath p = parse_path(text, kind);
  if (p.error != PathError::none) return;
  if (!p.mailbox.empty()) check(valid_mailbox(p.mailbox) || iequals(p.mailbox, "postmaster"));
  if (p.mailbox.empty()) check(kind == PathKind::reverse);
  check(p.rest.size() <= text.size());
  check(p.rest.empty() || text.substr(text.size() - p.rest.size()) == p.rest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::smtp;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  fuzz_path(text, PathKind::reverse);
  fuzz_path(text, PathKind::forward);

  if (auto params = parse_params(text)) {
    for (const auto& [keyword, value] : *params) {
      check(!keyword.empty());
      check(keyword == to_upper(keyword));
    }
  }

  const std::string encoded = encode_xtext(text);
  check(valid_xtext(encoded));
  auto decoded = decode_xtext(encoded);
  check(decoded && *decoded == text);
  if (auto x = decode_xtext(text)) check(decode_xtext(encode_xtext(*x)) == x);

  const std::string b64 = encode_base64(text);
  auto raw = decode_base64(b64);
  check(raw && raw->view() == text);
  if (auto bytes = decode_base64(text)) {
    check(decode_base64(encode_base64(bytes->view()))->view() == bytes->view());
    if (auto plain = parse_plain(*bytes)) {
      check(!plain.value().authcid.empty() && !plain.value().password.empty());
      check(plain.value().authzid.size() + plain.value().authcid.size() + plain.value().password.size() + 2 == bytes->size());
    }
  }
  return 0;
}
