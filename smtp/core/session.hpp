// The sans-I/O SMTP submission session (RFC 5321 with 3207 STARTTLS, 4954 AUTH, 1870 SIZE,
// 2920 PIPELINING, 3030 CHUNKING, 6152 8BITMIME, 6531 SMTPUTF8, 2034 ENHANCEDSTATUSCODES).
// Contract for the adapter (see docs/smtp.md):
// - start() once, then feed() whatever bytes arrive; after every call write take_output() to the
//   peer (in order) and perform take_actions() in order, before feeding more: StartTls -> flush
//   output, run the TLS handshake, then on_tls_established(); VerifyAuth -> on_auth_result();
//   BeginMessage -> open a spool file for the queue id and envelope; MessageData -> append the
//   bytes to it; StoreMessage -> make it durable and queued, then on_store_result();
//   DiscardMessage -> delete it; Close -> flush output and close the connection (and delete a
//   message file still open).
// - The message is streamed: the session never holds more of it than the bytes of one feed(),
//   so a session's memory does not grow with the message size.
// - While waiting() the session only buffers fed bytes; they are parsed when the result arrives.
// - Run one timer, of the kind current_timeout() names, re-armed after every feed; on expiry call
//   on_timeout(). The session never reads a clock and holds no sockets; randomness (queue ids)
//   is injected. It never throws on peer input.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/secret.hpp"
#include "smtp/core/line_reader.hpp"
#include "smtp/core/sasl.hpp"
#include "smtp/core/submission_policy.hpp"
#include "smtp/core/transaction.hpp"

namespace postern::smtp {

struct SessionConfig {
  std::string hostname;
  std::uint64_t max_message_size = 10 * 1024 * 1024;
  std::size_t max_recipients = 100;
  std::vector<std::string> domains;  // accepted recipient domains (compared case-insensitively)
  bool starttls_available = false;
  bool auth_available = false;  // users db configured
  // [smtp.relay] is configured: submitters (trusted or authenticated) may address recipients
  // outside `domains`; without it those get 550 5.7.1 (no open relay either way).
  bool relay_available = false;
  // Sender binding, recipient map and per-user limits (submission_policy.hpp); nullptr: none
  // (any sender, any local part, no limits). Shared by every session; not owned.
  SubmissionPolicy* policy = nullptr;
  std::size_t max_command_line = 512;  // RFC 5321 4.5.3.1.4, octets incl. CRLF
  std::size_t max_text_line = 1000;    // RFC 5321 4.5.3.1.6, octets incl. CRLF
  int max_bad_commands = 10;
  // NOOP, RSET, HELP and VRFY between two accepted messages (Postfix's smtpd_junk_command_limit):
  // beyond it 421 and close, so a client cannot hold a slot for ever by idling with NOOP.
  int max_junk_commands = 100;
};

struct ClientInfo {
  std::string peer_ip;
  std::uint16_t peer_port = 0;
  bool trusted = false;     // source in [smtp] trusted_networks: may submit without an identity
  // The tunnel identity holding the client's inner address ("" when the source is not a live
  // tunnel session). It authenticates the connection: no AUTH needed, and an AUTH must name it.
  std::string tunnel_user;
};

struct TlsInfo {
  std::string version;
  std::string cipher;
};

struct Envelope {
  std::string mail_from;  // "" for the null reverse-path
  std::vector<std::string> recipients;
  std::vector<RecipientDsn> recipient_dsn;  // one per recipient (RFC 3461 NOTIFY/ORCPT)
  std::string dsn_ret;    // RFC 3461 4.3 RET: "FULL", "HDRS" or ""
  std::string dsn_envid;  // RFC 3461 4.4 ENVID (xtext as received) or ""
  std::string helo;
  std::string auth_user;  // "" if not authenticated
  bool eight_bit = false;
  bool smtputf8 = false;
};

namespace action {
struct StartTls {};
struct VerifyAuth {
  std::string user;
  SecretBytes password;
};
// A message transfer starts (after the 354, or at the first BDAT): open its spool file. The
// envelope is final here (RCPT after BDAT is refused). MessageData follows.
struct BeginMessage {
  Envelope envelope;
  std::string queue_id;  // the id named in the Received: header and in the 250 reply
};
// The next bytes of the message begun last: the Received: header first, then the content
// (CRLF line endings, dot-unstuffed), at most one feed()'s worth per action.
struct MessageData {
  std::string bytes;
};
// The transfer ended well: make the file durable (fsync) and queued, then on_store_result().
struct StoreMessage {
  std::string queue_id;
};
// The transfer ended without a message (too big, bad content, RSET, STARTTLS, close): delete it.
struct DiscardMessage {
  std::string queue_id;
};
struct Close {
  std::string reason;
};
}  // namespace action

using Action = std::variant<action::StartTls, action::VerifyAuth, action::BeginMessage, action::MessageData,
                            action::StoreMessage, action::DiscardMessage, action::Close>;

// unauthenticated: reading commands on a connection with no identity that is not trusted (no
// tunnel session, no AUTH yet): the adapter runs a shorter limit, so idle strangers are shed first.
enum class Timeout { command, data, unauthenticated };
std::string_view to_string(Timeout timeout);

enum class State {
  created,            // before start()
  command,            // reading command lines
  auth_plain,         // AUTH PLAIN sent "334 ", reading the response line
  auth_login_user,    // AUTH LOGIN sent "334 VXNlcm5hbWU6"
  auth_login_password,
  data,               // after 354, reading dot-framed content
  bdat_chunk,         // reading the counted octets of a BDAT chunk
  wait_auth,          // VerifyAuth emitted
  wait_store,         // StoreMessage emitted
  wait_tls,           // StartTls emitted
  closed,
};
std::string_view to_string(State state);

class Session {
 public:
  Session(SessionConfig config, ClientInfo client, std::string session_id,
          std::function<std::string()> make_queue_id /* injected randomness */);

  void start(std::chrono::system_clock::time_point now);  // queues the 220 greeting
  void set_tls_active(TlsInfo tls);                        // implicit-TLS listeners, before start()
  void feed(std::span<const char> bytes, std::chrono::system_clock::time_point now);
  void on_tls_established(TlsInfo tls);  // after StartTls; resets state (RFC 3207 4.2)
  void on_auth_result(bool ok, std::chrono::system_clock::time_point now);
  // The password backend could not answer (directory down): 454 4.7.0 (RFC 4954 6), the
  // session stays usable and the client may try again later.
  void on_auth_unavailable(std::chrono::system_clock::time_point now);
  void on_store_result(bool ok, const std::string& detail, std::chrono::system_clock::time_point now);
  void on_timeout(Timeout which);  // 421 + Close

  std::string take_output();  // reply bytes to write, in order
  // Replies queued since the last call, by class: [0] 2xx, [1] 3xx, [2] 4xx, [3] 5xx. A
  // multiline reply (EHLO's 250-...) counts once, at its last line. For the adapter's counters.
  std::array<std::uint32_t, 4> take_reply_counts() { return std::exchange(reply_counts_, {}); }
  std::vector<Action> take_actions();

  bool waiting() const;             // true while an action result is pending (stop feeding parsing)
  Timeout current_timeout() const;  // which timer the adapter should run now
  bool closed() const;
  const std::string& id() const;
  State state() const { return state_; }
  bool tls_active() const { return tls_.has_value(); }
  const std::string& auth_user() const { return auth_user_; }
  // Who submits: the AUTH user, else the tunnel user ("" for neither).
  const std::string& identity() const { return auth_user_.empty() ? client_.tunnel_user : auth_user_; }

  // One row per verb (session_commands.cpp); public so the table can name the handlers.
  using Handler = void (Session::*)(std::string_view args);
  struct Verb;

 private:
  // session.cpp: input loop, replies, state.
  void process();
  void process_command_line();
  void process_auth_line();
  void process_data();
  void process_bdat();
  void complete_chunk();
  std::string_view pending_input() const;
  bool input_pending() const { return input_pos_ < input_.size(); }
  void enter(State next);
  void reply(int code, std::string_view enhanced, std::string_view text);
  void reply_raw(std::string_view line);
  void count_error(int code);
  void close(std::string_view reason);
  void reset_transaction();
  void begin_message();
  void emit_content(std::string bytes);
  void discard_message();
  void finish_message(const DataFindings& findings);

  // session_commands.cpp: the verb table and its handlers.
  static std::span<const Verb> verb_table();
  void dispatch(std::string_view line);
  bool check_row(const Verb& row);
  void cmd_ehlo(std::string_view args);
  void cmd_helo(std::string_view args);
  void cmd_mail(std::string_view args);
  void cmd_rcpt(std::string_view args);
  void cmd_data(std::string_view args);
  void cmd_bdat(std::string_view args);
  void cmd_rset(std::string_view args);
  void cmd_noop(std::string_view args);
  void cmd_quit(std::string_view args);
  void cmd_help(std::string_view args);
  void cmd_vrfy(std::string_view args);
  void cmd_starttls(std::string_view args);
  void cmd_auth(std::string_view args);
  void skip_bdat_payload(std::string_view args);
  void send_ehlo_reply();
  bool starttls_offered() const;
  bool auth_offered() const;
  bool is_local_domain(std::string_view domain) const;
  bool sender_allowed(std::string_view sender) const;
  bool add_recipient(const std::string& mailbox, const std::string& written, const RecipientDsn& dsn);
  void start_auth(PlainCredentials creds);

  // session_auth.cpp: SASL PLAIN / LOGIN (RFC 4954, 4616).
  void auth_plain_response(std::string_view b64);
  void auth_login_user(std::string_view b64);
  void auth_login_password(std::string_view b64);
  void auth_cancelled();

  SessionConfig config_;
  ClientInfo client_;
  std::string id_;
  std::function<std::string()> make_queue_id_;

  State state_ = State::created;
  std::string input_;  // fed bytes; those before input_pos_ are parsed already
  std::size_t input_pos_ = 0;
  LineReader lines_;
  std::chrono::system_clock::time_point now_{};
  std::string output_;
  std::array<std::uint32_t, 4> reply_counts_{};
  std::vector<Action> actions_;

  std::optional<TlsInfo> tls_;
  std::string helo_;  // "" until HELO/EHLO
  bool esmtp_ = false;
  std::string auth_user_;
  std::string auth_login_name_;  // between the two AUTH LOGIN steps
  std::string pending_auth_user_;
  std::optional<Transaction> txn_;
  std::uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_discard_ = false;  // chunk of a refused BDAT: read and drop to stay in sync
  std::string pending_queue_id_;
  bool message_open_ = false;
  bool wipe_input_ = false;  // an AUTH step ran in this process(): input_ held credentials  // BeginMessage emitted, neither StoreMessage nor DiscardMessage yet
  int bad_commands_ = 0;
  int junk_commands_ = 0;  // since the last accepted message
  bool count_junk();       // false: the limit was passed and the session closed
};

}  // namespace postern::smtp
