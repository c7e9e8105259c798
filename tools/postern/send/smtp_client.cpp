// SMTP submission dialogue; see smtp_client.hpp for the contract.
#include "tools/postern/send/smtp_client.hpp"

#include <openssl/crypto.h>

#include <fmt/format.h>

#include <memory>

namespace postern::tools::send {
namespace {

using smtp::ReplyReader;

// A greeting must come promptly; RFC 5321 4.5.3.2.1 allows 5 minutes but a submission server
// that has said nothing after --timeout is far more likely to be waiting for a TLS ClientHello.
class Session {
 public:
  explicit Session(const ClientOptions& options) : options_(options) {}

  SubmitResult run(const Envelope& envelope, const MessageMaker& make_message);

 private:
  const HostPort& ep() const { return options_.endpoint; }
  void connect();
  void read_greeting();
  Capabilities ehlo();
  void starttls();
  void authenticate(const Capabilities& caps);
  void auth_plain();
  void auth_login();
  Reply command(std::string_view line, std::string_view shown = {});
  Reply read_reply();
  Reply expect(std::string_view line, int code, std::string_view what, std::string_view shown = {});
  void show(std::string_view prefix, std::string_view text) const;
  [[noreturn]] void diagnose_silent_greeting();

  const ClientOptions& options_;
  std::unique_ptr<Connection> conn_;
  ReplyReader reader_;
};

void Session::show(std::string_view prefix, std::string_view text) const {
  if (options_.transcript != nullptr) std::fprintf(options_.transcript, "%.*s %.*s\n",
      static_cast<int>(prefix.size()), prefix.data(), static_cast<int>(text.size()), text.data());
}

Reply Session::read_reply() {
  for (;;) {
    if (auto reply = reader_.next()) {
      for (std::size_t i = 0; i < reply->lines.size(); ++i) {
        bool last = i + 1 == reply->lines.size();
        show("S:", fmt::format("{}{}{}", reply->code, last ? ' ' : '-', reply->lines[i]));
      }
      return *reply;
    }
    if (reader_.failed()) {
      throw SendError(fmt::format("{} sent something that is not an SMTP reply: {}", ep().to_string(),
                                  reader_.error()));
    }
    std::string bytes = conn_->read_some(options_.timeout);
    if (bytes.empty()) throw SendError(fmt::format("{} closed the connection", ep().to_string()));
    reader_.feed(bytes);
  }
}

Reply Session::command(std::string_view line, std::string_view shown) {
  show("C:", shown.empty() ? line : shown);
  conn_->write(std::string(line) + "\r\n");
  return read_reply();
}

Reply Session::expect(std::string_view line, int code, std::string_view what, std::string_view shown) {
  Reply reply = command(line, shown);
  if (reply.code != code) {
    throw SendError(fmt::format("{} refused {}: {}", ep().to_string(), what, reply.last_line));
  }
  return reply;
}

void Session::connect() {
  conn_ = std::make_unique<Connection>(ep(), options_.timeout);
  show("*", fmt::format("connected to {}", ep().to_string()));
  if (options_.mode == TlsMode::implicit) {
    conn_->start_tls(options_.tls, /*implicit=*/true);
    show("*", "TLS: " + conn_->tls_description());
  }
}

void Session::diagnose_silent_greeting() {
  // Probe on a fresh connection: does the port answer a TLS ClientHello?
  bool tls_port = false;
  try {
    Connection probe(ep(), options_.timeout);
    TlsOptions lax;
    lax.insecure = true;
    try {
      probe.start_tls(lax, true);
      tls_port = true;
    } catch (const SendError&) {
      tls_port = probe.server_sent_tls_record();
    }
  } catch (const SendError&) {
  }
  if (tls_port) {
    throw SendError(fmt::format("{} expects implicit TLS (SMTPS): use --tls (it sent no SMTP greeting "
                                "within {}s but answers a TLS handshake)",
                                ep().to_string(), options_.timeout.count() / 1000.0));
  }
  throw SendError(fmt::format("{} accepted the connection but sent no SMTP greeting within {}s",
                              ep().to_string(), options_.timeout.count() / 1000.0));
}

void Session::read_greeting() {
  Reply greeting;
  try {
    std::string first = conn_->read_some(options_.timeout);
    if (first.empty()) throw SendError(fmt::format("{} closed the connection before its greeting", ep().to_string()));
    if (!conn_->is_tls() && looks_like_tls_record(first)) {
      throw SendError(fmt::format("{} expects implicit TLS (SMTPS): use --tls", ep().to_string()));
    }
    reader_.feed(first);
    greeting = read_reply();
  } catch (const ReadTimeout&) {
    if (conn_->is_tls()) throw SendError(fmt::format("{} sent no SMTP greeting after the TLS handshake", ep().to_string()));
    diagnose_silent_greeting();
  }
  // RFC 5321 3.1: 554 instead of 220 means "no SMTP service here".
  if (greeting.code != 220) {
    throw SendError(fmt::format("{} does not accept mail from us: {}", ep().to_string(), greeting.last_line));
  }
}

Capabilities Session::ehlo() {
  Reply reply = expect("EHLO " + options_.ehlo_name, 250, "EHLO");
  return smtp::parse_ehlo(reply);
}

void Session::starttls() {
  expect("STARTTLS", 220, "STARTTLS");
  // RFC 3207 5 / CVE-2011-0411: bytes after the 220 would be read as if they came over TLS.
  if (reader_.has_partial_reply() || reader_.next()) {
    throw SendError(fmt::format("{} sent data after its STARTTLS reply (possible injection); aborting", ep().to_string()));
  }
  conn_->start_tls(options_.tls, /*implicit=*/false);
  reader_ = ReplyReader{};
  show("*", "TLS: " + conn_->tls_description());
}

void Session::auth_plain() {
  // RFC 4616: authzid NUL authcid NUL passwd, sent as the initial response (RFC 4954 4).
  std::string raw = std::string(1, '\0') + *options_.user + std::string(1, '\0') +
                    std::string(options_.password->view());
  std::string line = "AUTH PLAIN " + base64_encode(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  Reply reply = command(line, "AUTH PLAIN <credentials hidden>");
  OPENSSL_cleanse(line.data(), line.size());
  if (reply.code != 235) {
    throw SendError(fmt::format("authentication as {} failed: {}", *options_.user, reply.last_line));
  }
}

void Session::auth_login() {
  expect("AUTH LOGIN", 334, "AUTH LOGIN");
  expect(base64_encode(*options_.user), 334, "the user name", "<user name>");
  std::string line = base64_encode(options_.password->view());
  Reply reply = command(line, "<password hidden>");
  OPENSSL_cleanse(line.data(), line.size());
  if (reply.code != 235) {
    throw SendError(fmt::format("authentication as {} failed: {}", *options_.user, reply.last_line));
  }
}

void Session::authenticate(const Capabilities& caps) {
  if (!conn_->is_tls()) {
    throw SendError(fmt::format(
        "refusing to send the password for {} over plaintext: {} did not offer STARTTLS "
        "(if it is an SMTPS port, use --tls)", *options_.user, ep().to_string()));
  }
  if (caps.has_auth("PLAIN")) return auth_plain();
  if (caps.has_auth("LOGIN")) return auth_login();
  if (caps.auth_mechanisms.empty()) {
    throw SendError(fmt::format("{} does not offer AUTH (is this the submission port?)", ep().to_string()));
  }
  std::string offered;
  for (const auto& m : caps.auth_mechanisms) offered += (offered.empty() ? "" : " ") + m;
  throw SendError(fmt::format("{} offers no mechanism postern supports (PLAIN, LOGIN); it offers {}",
                              ep().to_string(), offered));
}

SubmitResult Session::run(const Envelope& envelope, const MessageMaker& make_message) {
  connect();
  read_greeting();
  Capabilities caps = ehlo();
  if (!conn_->is_tls()) {
    if (caps.starttls) {
      starttls();
      caps = ehlo();  // RFC 3207 4.2: forget everything learned before TLS
    } else if (options_.mode == TlsMode::starttls) {
      throw SendError(fmt::format("{} does not offer STARTTLS (its EHLO reply lacks it)", ep().to_string()));
    }
  }
  if (options_.user) authenticate(caps);
  BuiltMessage message = make_message(caps);
  std::string mail = fmt::format("MAIL FROM:<{}>{}", envelope.from, message.needs_8bitmime ? " BODY=8BITMIME" : "");
  expect(mail, 250, fmt::format("the sender <{}>", envelope.from));
  for (const auto& rcpt : envelope.to) {
    Reply reply = command(fmt::format("RCPT TO:<{}>", rcpt));
    if (reply.code != 250 && reply.code != 251) {
      throw SendError(fmt::format("{} refused the recipient <{}>: {}", ep().to_string(), rcpt, reply.last_line));
    }
  }
  expect("DATA", 354, "DATA");
  std::string data = dot_stuff(message.text);
  show("C:", fmt::format("<message: {} bytes>", data.size()));
  conn_->write(data);
  Reply done = command(".");
  if (done.code != 250) {
    throw SendError(fmt::format("{} did not accept the message: {}", ep().to_string(), done.last_line));
  }
  try {
    command("QUIT");
  } catch (const SendError&) {
    // The message is queued; a server that hangs up without 221 changes nothing.
  }
  return {smtp::queue_id_of(done), done};
}

}  // namespace

std::string_view to_string(TlsMode mode) {
  switch (mode) {
    case TlsMode::auto_: return "auto";
    case TlsMode::starttls: return "starttls";
    case TlsMode::implicit: return "tls";
  }
  return "?";
}

SubmitResult submit(const ClientOptions& options, const Envelope& envelope, const MessageMaker& make_message) {
  Session session(options);
  return session.run(envelope, make_message);
}

}  // namespace postern::tools::send
