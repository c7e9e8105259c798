// The SMTP submission dialogue of `postern send` (RFC 6409 over RFC 5321): greeting, EHLO,
// STARTTLS (RFC 3207) or implicit TLS (RFC 8314), AUTH PLAIN/LOGIN (RFC 4954), MAIL, RCPT, DATA.
// Contract: synchronous; throws SendError whose what() is a complete sentence for the user,
// quoting the server's reply line when the server said no. Never sends a password over a
// connection that is not TLS. With a transcript stream, prints the dialogue as "C:"/"S:" lines
// (the password and message body are elided).
#pragma once

#include "common/secret.hpp"
#include "smtp/core/reply_reader.hpp"
#include "tools/postern/send/message.hpp"
#include "tools/postern/send/transport.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::tools::send {

// The reply syntax is shared with the relay client: these are smtp/core/reply_reader.hpp's types.
using smtp::Capabilities;
using smtp::Reply;

// auto_: plaintext greeting, then STARTTLS if the server offers it.
enum class TlsMode { auto_, starttls, implicit };
std::string_view to_string(TlsMode mode);

struct ClientOptions {
  HostPort endpoint;
  TlsMode mode = TlsMode::auto_;
  TlsOptions tls;
  std::string ehlo_name;
  std::optional<std::string> user;  // AUTH when set
  const SecretBytes* password = nullptr;
  std::chrono::milliseconds timeout{10000};
  std::FILE* transcript = nullptr;  // -v: the dialogue goes here
};

struct Envelope {
  std::string from;              // address only
  std::vector<std::string> to;   // addresses only
};

struct SubmitResult {
  std::string queue_id;
  Reply reply;  // the server's answer to the end of DATA
};

// make_message is called after EHLO so the body encoding can follow the server's extensions.
using MessageMaker = std::function<BuiltMessage(const Capabilities&)>;

SubmitResult submit(const ClientOptions& options, const Envelope& envelope,
                    const MessageMaker& make_message);

}  // namespace postern::tools::send
