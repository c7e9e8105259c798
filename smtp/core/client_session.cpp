// ClientSession, connection part: greeting, EHLO/HELO, STARTTLS (RFC 3207), AUTH (RFC 4954),
// QUIT, and what happens on malformed replies, timeouts and closes. The transaction (MAIL, RCPT,
// DATA) is in client_transaction.cpp. See client_session.hpp for the contract.
#include "smtp/core/client_session.hpp"

#include <openssl/crypto.h>

#include <utility>

#include "common/log.hpp"
#include "smtp/core/sasl.hpp"

namespace postern::smtp {
namespace {

constexpr std::string_view component = "relay";

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

std::string_view to_string(ClientTlsPolicy policy) {
  switch (policy) {
    case ClientTlsPolicy::required: return "required";
    case ClientTlsPolicy::never: return "never";
  }
  return "?";
}

std::string_view to_string(RecipientStatus status) {
  switch (status) {
    case RecipientStatus::delivered: return "delivered";
    case RecipientStatus::temporary: return "temporary";
    case RecipientStatus::permanent: return "permanent";
  }
  return "?";
}

std::string_view to_string(ClientTimeout timeout) {
  switch (timeout) {
    case ClientTimeout::idle: return "idle";
    case ClientTimeout::command: return "command";
    case ClientTimeout::data: return "data";
    case ClientTimeout::final: return "final";
  }
  return "?";
}

std::string_view to_string(ClientState state) {
  switch (state) {
    case ClientState::greeting: return "greeting";
    case ClientState::ehlo: return "ehlo";
    case ClientState::starttls: return "starttls";
    case ClientState::tls_handshake: return "tls_handshake";
    case ClientState::auth: return "auth";
    case ClientState::ready: return "ready";
    case ClientState::transaction: return "transaction";
    case ClientState::quitting: return "quitting";
    case ClientState::closed: return "closed";
  }
  return "?";
}

ClientSession::ClientSession(ClientConfig config, std::string id)
    : config_(std::move(config)), id_(std::move(id)) {
  pending_.push_back({Expect::greeting});
}

void ClientSession::feed(std::string_view bytes) {
  if (state_ == ClientState::closed) return;
  if (state_ == ClientState::tls_handshake) return;  // plaintext after 220 is dropped (RFC 3207 4.2)
  reader_.feed(bytes);
  while (state_ != ClientState::closed && state_ != ClientState::tls_handshake) {
    std::optional<Reply> reply = reader_.next();
    if (!reply) break;
    handle(*reply);
  }
  if (state_ != ClientState::closed && reader_.failed()) {
    fail("malformed reply from the relay: " + reader_.error(), true, false);
  }
}

void ClientSession::handle(const Reply& reply) {
  if (pending_.empty()) return fail("unexpected reply from the relay: " + reply.verbatim(), true, false);
  // RFC 5321 3.8: 421 may answer any command; the relay is closing the connection.
  if (reply.code == 421) {
    pending_.clear();
    return fail("relay is closing the connection: " + reply.verbatim(), true, false);
  }
  const Pending p = pending_.front();
  pending_.pop_front();
  switch (p.what) {
    case Expect::greeting: return on_greeting(reply);
    case Expect::ehlo: return on_ehlo(reply, false);
    case Expect::helo: return on_ehlo(reply, true);
    case Expect::starttls: return on_starttls(reply);
    case Expect::auth:
    case Expect::auth_user:
    case Expect::auth_password: return on_auth(reply, p.what);
    case Expect::mail: return on_mail(reply);
    case Expect::rcpt: return on_rcpt(reply, p.index);
    case Expect::data: return on_data(reply);
    case Expect::dot:
    case Expect::dot_discard: return on_dot(reply);
    case Expect::rset: return on_rset(reply);
    case Expect::quit: return close("quit");
  }
}

void ClientSession::on_greeting(const Reply& reply) {
  if (reply.code != 220) return fail("relay refused the connection: " + reply.verbatim(), true, true);
  enter(ClientState::ehlo);
  send("EHLO " + config_.helo_name, Expect::ehlo);
}

void ClientSession::on_ehlo(const Reply& reply, bool helo) {
  if (reply.code != 250) {
    // RFC 5321 4.1.4: a server that does not know EHLO answers 5xx; HELO is the fallback, but
    // HELO can offer no STARTTLS, so under `required` that is the end.
    if (!helo && reply.permanent() && config_.tls == ClientTlsPolicy::never) {
      send("HELO " + config_.helo_name, Expect::helo);
      return;
    }
    return fail(std::string("relay refused ") + (helo ? "HELO: " : "EHLO: ") + reply.verbatim(), true, true);
  }
  caps_ = helo ? Capabilities{} : parse_ehlo(reply);
  after_ehlo();
}

void ClientSession::after_ehlo() {
  if (config_.tls == ClientTlsPolicy::required && !tls_active_) {
    if (!caps_.starttls) return fail("relay offers no STARTTLS", true, true);
    enter(ClientState::starttls);
    send("STARTTLS", Expect::starttls);
    return;
  }
  if (config_.user) return start_auth();
  become_ready();
}

void ClientSession::on_starttls(const Reply& reply) {
  if (reply.code != 220) return fail("relay refused STARTTLS: " + reply.verbatim(), true, true);
  if (reader_.has_buffered()) {
    // RFC 3207 4.2 / CVE-2011-0411: nothing sent before the handshake may be acted upon.
    log::warn(component, id_, "starttls_injection", {{"bytes", reader_.pending_bytes()}});
  }
  reader_ = ReplyReader{};
  enter(ClientState::tls_handshake);
  actions_.emplace_back(client_action::StartTls{});
}

void ClientSession::on_tls_established() {
  if (state_ != ClientState::tls_handshake) return;
  tls_active_ = true;
  reader_ = ReplyReader{};
  caps_ = Capabilities{};  // RFC 3207 4.2: forget what was learnt in plaintext
  enter(ClientState::ehlo);
  send("EHLO " + config_.helo_name, Expect::ehlo);
}

void ClientSession::on_tls_failed(std::string_view reason) {
  if (state_ == ClientState::closed) return;
  fail("TLS handshake failed: " + std::string(reason), true, false);
}

void ClientSession::start_auth() {
  if (!tls_active_ && config_.tls != ClientTlsPolicy::never) {
    return fail("refusing to send credentials without TLS", true, true);  // unreachable by design
  }
  enter(ClientState::auth);
  const std::string& user = *config_.user;
  if (caps_.has_auth("PLAIN")) {
    // RFC 4616: authzid NUL authcid NUL passwd; empty authzid.
    std::string plain;
    plain.reserve(user.size() + config_.password.size() + 2);
    plain.push_back('\0');
    plain.append(user);
    plain.push_back('\0');
    plain.append(config_.password.view());
    std::string line = "AUTH PLAIN " + encode_base64(plain);
    wipe(plain);
    send(line, Expect::auth);
    wipe(line);
    output_secret_ = true;
    return;
  }
  if (caps_.has_auth("LOGIN")) {
    send("AUTH LOGIN", Expect::auth);
    return;
  }
  fail("relay offers no AUTH PLAIN or LOGIN, and credentials are configured", true, true);
}

void ClientSession::on_auth(const Reply& reply, Expect step) {
  if (reply.code == 235) return become_ready();
  if (reply.code == 334 && step != Expect::auth_password && !caps_.has_auth("PLAIN")) {
    // AUTH LOGIN: "Username:" then "Password:" (base64 challenges we need not read).
    if (step == Expect::auth) {
      send(encode_base64(*config_.user), Expect::auth_user);
    } else {
      std::string line = encode_base64(config_.password.view());
      send(line, Expect::auth_password);
      wipe(line);
      output_secret_ = true;
    }
    return;
  }
  if (reply.code == 535) return fail("relay refused our credentials: " + reply.verbatim(), true, true);
  fail("relay refused AUTH: " + reply.verbatim(), true, true);
}

void ClientSession::become_ready() {
  enter(ClientState::ready);
}

void ClientSession::quit() {
  if (state_ == ClientState::closed || state_ == ClientState::quitting) return;
  if (state_ == ClientState::tls_handshake) return close("quit");
  fail_unsettled("connection closed by postern before the relay answered");
  pending_.clear();
  enter(ClientState::quitting);
  send("QUIT", Expect::quit);
}

void ClientSession::on_closed() {
  if (state_ == ClientState::closed) return;
  if (state_ == ClientState::quitting || (ready() && !txn_)) return close("closed by the relay");
  fail("connection closed by the relay", true, false);
}

void ClientSession::on_timeout() {
  if (state_ == ClientState::closed) return;
  if (ready()) return quit();  // the reuse timer: nothing more to send
  fail("timeout waiting for the relay (" + std::string(to_string(current_timeout())) + " timeout, " +
           std::string(to_string(state_)) + ")",
       true, false);
}

ClientTimeout ClientSession::current_timeout() const {
  if (pending_.empty()) return ClientTimeout::idle;
  switch (pending_.front().what) {
    case Expect::data: return ClientTimeout::data;
    case Expect::dot:
    case Expect::dot_discard: return ClientTimeout::final;
    default: return ClientTimeout::command;
  }
}

std::string ClientSession::take_output() {
  output_secret_ = false;
  return std::exchange(output_, {});
}

std::vector<ClientAction> ClientSession::take_actions() { return std::exchange(actions_, {}); }

void ClientSession::send(std::string_view line, Expect what, std::size_t index) {
  output_.append(line);
  output_.append("\r\n");
  pending_.push_back({what, index});
}

void ClientSession::enter(ClientState next) {
  if (next == state_ || state_ == ClientState::closed) return;
  log::debug(component, id_, "state", {{"old", to_string(state_)}, {"new", to_string(next)}});
  state_ = next;
}

// Every failure of the connection: outcomes for the message in flight, then the reason, then
// (when the relay is still in step with us) QUIT, then Close.
void ClientSession::fail(std::string reason, bool temporary, bool send_quit) {
  if (state_ == ClientState::closed) return;
  fail_unsettled(reason);
  actions_.emplace_back(client_action::ConnectionFailed{reason, temporary});
  pending_.clear();
  if (send_quit) {
    output_.append("QUIT\r\n");
  }
  close(std::move(reason));
}

void ClientSession::close(std::string reason) {
  if (state_ == ClientState::closed) return;
  txn_.reset();
  pending_.clear();
  enter(ClientState::closed);
  actions_.emplace_back(client_action::Close{std::move(reason)});
}

}  // namespace postern::smtp
