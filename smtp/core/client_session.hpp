// The sans-I/O SMTP client that relays queued mail to the site's MTA (RFC 5321 with 3207
// STARTTLS, 4954 AUTH, 1870 SIZE, 2920 PIPELINING, 6152 8BITMIME, 6531 SMTPUTF8, 3461 DSN).
// One ClientSession drives one connection through any number of messages:
//   220 -> EHLO -> [STARTTLS -> 220 -> StartTls ... on_tls_established() -> EHLO]
//       -> [AUTH PLAIN | LOGIN] -> ready -> submit() -> MAIL/RCPT.../DATA/body/. -> ready ...
// Contract for the adapter (smtp/relay/relay_connection.cpp; docs/smtp-relay.md):
// - Construct it when the TCP connection is up, then feed() whatever the relay sends. After every
//   call write take_output() (in order; when output_has_secret() was true before taking, wipe the
//   buffer after writing: it carried the AUTH credentials) and perform take_actions():
//     StartTls         -> flush the output, run the TLS handshake, then on_tls_established() or
//                         on_tls_failed(reason). Feed nothing in between.
//     MessageDone      -> one outcome per recipient of the last submit(), in the same order.
//     ConnectionFailed -> the connection is unusable; `temporary` says whether the queue should
//                         retry (every failure of a connection is temporary today: a refused
//                         greeting, missing STARTTLS or refused credentials can all be fixed on
//                         the relay's side). Any message in flight got its MessageDone first.
//     Close            -> flush the output, then close the socket. Always the last action.
// - Run one timer, of the kind current_timeout() names (idle: no reply is awaited), re-armed
//   after every call; on expiry call on_timeout(). On EOF or a read/write error call on_closed().
// - submit() only when ready(). The message view must stay valid until its MessageDone.
// Under ClientTlsPolicy::required nothing but EHLO, STARTTLS and QUIT is ever written before
// on_tls_established(). The session never reads a clock, holds no sockets and never throws on
// what the relay sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/secret.hpp"
#include "smtp/core/reply_reader.hpp"

namespace postern::smtp {

enum class ClientTlsPolicy {
  required,  // STARTTLS must be offered and succeed before anything else is sent
  never,     // plaintext; STARTTLS is not used even if offered (the operator said tls = "none")
};
std::string_view to_string(ClientTlsPolicy policy);

struct ClientConfig {
  std::string helo_name;
  ClientTlsPolicy tls = ClientTlsPolicy::required;
  std::optional<std::string> user;  // AUTH PLAIN (or LOGIN) when set
  SecretBytes password;
};

// One recipient of an outgoing message, with its RFC 3461 parameters ("" when absent; sent only
// when the relay offers DSN).
struct OutgoingRecipient {
  std::string_view address;
  std::string_view notify;  // "NEVER" or "SUCCESS,FAILURE,DELAY"
  std::string_view orcpt;   // "rfc822;user@example.org" (xtext as received)
};

// A view of one message to relay; it refers to the caller's bytes.
struct OutgoingMessage {
  std::string_view sender;  // "" for the null reverse-path
  std::span<const OutgoingRecipient> recipients;
  std::string_view content;  // CRLF lines, not dot-stuffed
  bool eight_bit = false;    // BODY=8BITMIME
  bool smtputf8 = false;
  std::string_view dsn_ret;    // "FULL", "HDRS" or ""
  std::string_view dsn_envid;  // xtext or ""
};

enum class RecipientStatus { delivered, temporary, permanent };
std::string_view to_string(RecipientStatus status);

struct RecipientOutcome {
  RecipientStatus status = RecipientStatus::temporary;
  int code = 0;               // the relay's reply code; 0 when we decided without a reply
  std::string enhanced_code;  // RFC 3463 "5.1.1" from the reply (or ours), "" if none
  std::string text;           // the relay's reply lines verbatim, or our reason in words
  std::string queue_id;       // delivered: the relay's queue id ("queued as X", else its text)
};

namespace client_action {
struct StartTls {};
struct MessageDone {
  std::vector<RecipientOutcome> recipients;
};
struct ConnectionFailed {
  std::string reason;  // a sentence for the log: "relay offers no STARTTLS"
  bool temporary = true;
};
struct Close {
  std::string reason;
};
}  // namespace client_action

using ClientAction = std::variant<client_action::StartTls, client_action::MessageDone,
                                  client_action::ConnectionFailed, client_action::Close>;

// RFC 5321 4.5.3.2: the limit that applies to the reply awaited now.
enum class ClientTimeout {
  idle,     // nothing awaited (ready between messages): the adapter's reuse timer
  command,  // greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET, QUIT (4.5.3.2.1-3, 7)
  data,     // the 354 to DATA (4.5.3.2.4); the adapter also uses it for writing the body
  final,    // the reply to the final "." (4.5.3.2.6)
};
std::string_view to_string(ClientTimeout timeout);

enum class ClientState {
  greeting,       // connected, awaiting 220
  ehlo,           // EHLO (or HELO) sent
  starttls,       // STARTTLS sent
  tls_handshake,  // StartTls emitted
  auth,           // AUTH exchange in progress
  ready,          // may submit()
  transaction,    // MAIL .. final reply (or RSET) in progress
  quitting,       // QUIT sent
  closed,
};
std::string_view to_string(ClientState state);

// RFC 5321 4.5.2: the content as it goes on the wire after DATA: a dot doubled at the start of
// each line, bare CR or LF turned into CRLF (so no receiver can read a different end of data
// than we meant), a CRLF added when the content does not end with one, and ".\r\n" appended.
void encode_dot_stuffed(std::string_view content, std::string& out);

class ClientSession {
 public:
  ClientSession(ClientConfig config, std::string id);

  void feed(std::string_view bytes);
  void on_tls_established();
  void on_tls_failed(std::string_view reason);
  void on_closed();
  void on_timeout();

  // Starts a transaction. A message the relay cannot take as it is (over its SIZE limit, 8-bit
  // or UTF-8 without the extension) is answered at once with permanent outcomes and nothing is
  // sent. Returns false (and does nothing) unless ready().
  bool submit(const OutgoingMessage& message);
  // Sends QUIT (any transaction in flight fails temporarily), then Close on the reply.
  void quit();

  std::string take_output();
  bool output_has_secret() const { return output_secret_; }
  std::vector<ClientAction> take_actions();

  ClientState state() const { return state_; }
  bool ready() const { return state_ == ClientState::ready && pending_.empty(); }
  bool closed() const { return state_ == ClientState::closed; }
  bool tls_active() const { return tls_active_; }
  ClientTimeout current_timeout() const;
  const Capabilities& capabilities() const { return caps_; }
  std::size_t messages_submitted() const { return messages_; }
  const std::string& id() const { return id_; }

 private:
  // What a reply we are waiting for answers, in the order the commands went out.
  enum class Expect { greeting, ehlo, helo, starttls, auth, auth_user, auth_password, mail, rcpt,
                      data, dot, dot_discard, rset, quit };
  struct Pending {
    Expect what;
    std::size_t index = 0;  // rcpt: which recipient
  };
  struct Transaction {
    OutgoingMessage message;
    std::vector<RecipientOutcome> outcomes;
    std::vector<bool> accepted;  // RCPT got 2xx
    std::vector<bool> final;     // outcome decided
    bool pipelined = false;
    bool mail_failed = false;
    std::size_t next_rcpt = 0;  // without pipelining: the next RCPT to send
  };

  // client_session.cpp: connection setup, replies, failures.
  void handle(const Reply& reply);
  void on_greeting(const Reply& reply);
  void on_ehlo(const Reply& reply, bool helo);
  void after_ehlo();
  void on_starttls(const Reply& reply);
  void start_auth();
  void on_auth(const Reply& reply, Expect step);
  void become_ready();
  void send(std::string_view line, Expect what, std::size_t index = 0);
  void enter(ClientState next);
  void fail(std::string reason, bool temporary, bool send_quit);
  void close(std::string reason);

  // client_transaction.cpp: MAIL / RCPT / DATA.
  void on_mail(const Reply& reply);
  void on_rcpt(const Reply& reply, std::size_t index);
  void on_data(const Reply& reply);
  void on_dot(const Reply& reply);
  void on_rset(const Reply& reply);
  std::string mail_command() const;
  std::string rcpt_command(std::size_t index) const;
  void send_next_rcpt_or_data();
  void refuse_all(RecipientStatus status, std::string_view enhanced, std::string text);
  void settle(std::size_t index, const Reply& reply);
  void settle_accepted(const Reply& reply);
  void finish_transaction(bool send_rset);
  void fail_unsettled(const std::string& reason);

  ClientConfig config_;
  std::string id_;
  ClientState state_ = ClientState::greeting;
  ReplyReader reader_;
  std::deque<Pending> pending_;
  std::string output_;
  bool output_secret_ = false;
  std::vector<ClientAction> actions_;
  Capabilities caps_;
  bool tls_active_ = false;
  bool ehlo_refused_ = false;
  std::optional<Transaction> txn_;
  std::size_t messages_ = 0;
};

}  // namespace postern::smtp
