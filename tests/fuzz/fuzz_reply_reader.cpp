// Fuzz target: the SMTP reply reader and EHLO parser, then a ClientSession fed the same bytes as
// a relay's replies, submitting one message once it is ready and answering StartTls at once.
// Input: one selector byte (bit 0 set: ClientTlsPolicy::never, else required; bit 1: no AUTH
// credentials; bit 2: an 8-bit SMTPUTF8 message with DSN RET/ENVID), then the relay's
// bytes, split into feeds at 0xFF bytes (the 0xFF themselves are not fed). The reader is fed the
// same feeds. Invariants: no crash/UB; a MessageDone has one outcome per recipient; nothing but
// EHLO/STARTTLS/QUIT is written before TLS under `required`.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "common/log.hpp"
#include "smtp/core/client_session.hpp"
#include "smtp/core/reply_reader.hpp"

using namespace postern::smtp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    postern::log::set_sink([](postern::log::Level, std::string_view) {});
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  const bool never = (data[0] & 1) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  ReplyReader reader;
  for (std::size_t at = 0; at <= input.size() && !reader.failed();) {
    std::size_t end = input.find('\xff', at);
    if (end == std::string_view::npos) end = input.size();
    reader.feed(input.substr(at, end - at));
    at = end + 1;
    while (auto reply = reader.next()) {
      (void)parse_ehlo(*reply).has_auth("plain");
      (void)enhanced_code_of(*reply);
      (void)queue_id_of(*reply);
      (void)reply->verbatim();
      (void)reply->text();
    }
  }
  (void)reader.has_buffered();

  ClientConfig config;
  config.helo_name = "fuzz.example";
  config.tls = never ? ClientTlsPolicy::never : ClientTlsPolicy::required;
  if ((data[0] & 2) == 0) {
    config.user = "u";
    config.password = postern::SecretBytes(std::string_view("pw"));
  }
  const bool required = config.tls == ClientTlsPolicy::required;
  ClientSession session(std::move(config), "f");
  const OutgoingRecipient rcpts[] = {{"a@x.example", "", ""}, {"b@x.example", "NEVER", "rfc822;b@x.example"}};
  OutgoingMessage message;
  message.sender = "s@y.example";
  message.recipients = rcpts;
  message.content = "Subject: x\r\n\r\n.dot\r\n";
  if (data[0] & 4) {
    message.eight_bit = true;
    message.smtputf8 = true;
    message.dsn_ret = "HDRS";
    message.dsn_envid = "env+2Bid";
  }
  bool submitted = false;
  std::size_t pos = 0;
  while (pos <= input.size() && !session.closed()) {
    std::size_t end = input.find('\xff', pos);
    if (end == std::string_view::npos) end = input.size();
    session.feed(input.substr(pos, end - pos));
    pos = end + 1;
    for (auto& action : session.take_actions()) {
      if (std::holds_alternative<client_action::StartTls>(action)) session.on_tls_established();
      if (auto* done = std::get_if<client_action::MessageDone>(&action)) {
        if (done->recipients.size() != 2) std::abort();
      }
    }
    const std::string out = session.take_output();
    if (required && !session.tls_active()) {
      for (std::size_t at = 0; at < out.size();) {
        const std::size_t eol = out.find("\r\n", at);
        const std::string_view line = std::string_view(out).substr(at, eol - at);
        if (line.rfind("EHLO ", 0) != 0 && line != "STARTTLS" && line != "QUIT") std::abort();
        at = eol == std::string::npos ? out.size() : eol + 2;
      }
    }
    if (session.ready() && !submitted) submitted = session.submit(message);
  }
  session.on_timeout();
  session.take_actions();
  return 0;
}
