// The session's input loop, replies and state changes; the verbs are in session_commands.cpp and
// the SASL steps in session_auth.cpp. See session.hpp for the adapter contract.
// Why the loop looks like this: bytes are appended to input_ and parsed one unit at a time (a
// command line, a piece of DATA, a BDAT chunk) by the reader of the current state, so that
// PIPELINING works in order (RFC 2920 3) and parsing stops whenever an action result is pending.
#include "smtp/core/session.hpp"

#include <utility>

#include <openssl/crypto.h>

#include "common/log.hpp"
#include "smtp/core/received.hpp"

namespace postern::smtp {
namespace {
constexpr std::string_view component = "smtp";
}  // namespace

std::string_view to_string(Timeout timeout) {
  switch (timeout) {
    case Timeout::command: return "command";
    case Timeout::data: return "data";
    case Timeout::unauthenticated: return "unauthenticated";
  }
  return "unknown";
}

std::string_view to_string(State state) {
  switch (state) {
    case State::created: return "created";
    case State::command: return "command";
    case State::auth_plain: return "auth_plain";
    case State::auth_login_user: return "auth_login_user";
    case State::auth_login_password: return "auth_login_password";
    case State::data: return "data";
    case State::bdat_chunk: return "bdat_chunk";
    case State::wait_auth: return "wait_auth";
    case State::wait_store: return "wait_store";
    case State::wait_tls: return "wait_tls";
    case State::closed: return "closed";
  }
  return "unknown";
}

Session::Session(SessionConfig config, ClientInfo client, std::string session_id,
                 std::function<std::string()> make_queue_id)
    : config_(std::move(config)),
      client_(std::move(client)),
      id_(std::move(session_id)),
      make_queue_id_(std::move(make_queue_id)),
      lines_(config_.max_command_line) {}

void Session::start(std::chrono::system_clock::time_point now) {
  if (state_ != State::created) return;
  now_ = now;
  reply_raw("220 " + config_.hostname + " ESMTP postern");
  enter(State::command);
  process();  // bytes fed before start() (an early talker) are parsed now
}

void Session::set_tls_active(TlsInfo tls) {
  if (state_ == State::created) tls_ = std::move(tls);
}

void Session::feed(std::span<const char> bytes, std::chrono::system_clock::time_point now) {
  if (state_ == State::closed || bytes.empty()) return;
  if (state_ == State::wait_tls) {
    // Plaintext after our 220 to STARTTLS and before the handshake: never execute it.
    log::warn(component, id_, "starttls_injection", {{"bytes", bytes.size()}, {"when", "after_220"}});
    close("plaintext after STARTTLS");
    return;
  }
  now_ = now;
  input_.append(bytes.data(), bytes.size());
  process();
}

std::string_view Session::pending_input() const {
  return std::string_view(input_).substr(input_pos_);
}

void Session::process() {
  // In the other states (created, waiting for a result, closed) the bytes are kept.
  bool parsing = true;
  while (parsing && input_pending()) {
    switch (state_) {
      case State::command: process_command_line(); break;
      case State::auth_plain:
      case State::auth_login_user:
      case State::auth_login_password: process_auth_line(); break;
      case State::data: process_data(); break;
      case State::bdat_chunk: process_bdat(); break;
      default: parsing = false; break;
    }
  }
  if (wipe_input_) {  // the parsed bytes held credentials (AUTH): wipe them, never just drop them
    OPENSSL_cleanse(input_.data(), input_pos_);
    wipe_input_ = false;
  }
  if (input_pos_ == input_.size()) {
    input_.clear();
  } else if (input_pos_ > 0) {
    input_.erase(0, input_pos_);
  }
  input_pos_ = 0;
}

void Session::process_command_line() {
  auto result = lines_.put(pending_input());
  input_pos_ += result.consumed;
  if (!result.line) return;
  switch (result.line->status) {
    case LineStatus::complete:
      dispatch(result.line->text);
      // "AUTH PLAIN <response>" carries the password in the command line itself.
      OPENSSL_cleanse(result.line->text.data(), result.line->text.size());
      break;
    case LineStatus::bare_newline:
      log::info(component, id_, "bare_newline", {{"where", "command"}});
      reply(500, "5.5.2", "Error: bare <CR> or <LF> in command line");
      break;
    case LineStatus::too_long: reply(500, "5.5.6", "Error: line too long"); break;
  }
}

void Session::process_data() {
  auto& body = *txn_->body;
  const auto result = body.put(pending_input());
  input_pos_ += result.consumed;
  emit_content(body.take_content());
  if (body.findings().too_big) discard_message();  // nothing of it is kept, from now on
  if (result.done) finish_message(body.findings());
}

void Session::process_bdat() {
  const std::string_view chunk = pending_input().substr(0, bdat_remaining_);
  if (!bdat_discard_) {
    txn_->body->put(chunk);
    emit_content(txn_->body->take_content());
    if (txn_->body->findings().too_big) discard_message();
  }
  bdat_remaining_ -= chunk.size();
  input_pos_ += chunk.size();
  if (bdat_remaining_ == 0) complete_chunk();
}

void Session::complete_chunk() {
  enter(State::command);
  if (bdat_discard_) {  // the BDAT was refused already; its octets are gone now
    bdat_discard_ = false;
    return;
  }
  auto& body = *txn_->body;
  if (bdat_last_) {
    body.finish();
    finish_message(body.findings());
    return;
  }
  if (body.findings().too_big) {  // RFC 3030 2: a 5xx to a chunk ends the transaction
    reply(552, "5.3.4", "Error: message file too big");
    reset_transaction();
    return;
  }
  reply(250, "2.0.0", "Ok: " + std::to_string(body.size()) + " octets received");
}

// At the 354 or the first BDAT: the queue id, the Received: header and the envelope are
// known now, so the adapter can open the spool file and take the content as it arrives.
void Session::begin_message() {
  action::BeginMessage begin;
  begin.queue_id = make_queue_id_();
  begin.envelope = Envelope{txn_->mail_from, txn_->recipients, txn_->recipient_dsn, txn_->dsn_ret,
                            txn_->dsn_envid,  helo_,           auth_user_,
                            txn_->eight_bit,  txn_->smtputf8};
  ReceivedInfo info{helo_, client_.peer_ip, config_.hostname, esmtp_, tls_.has_value(),
                    tls_ ? tls_->version : "", tls_ ? tls_->cipher : "", auth_user_, client_.tunnel_user,
                    begin.queue_id, txn_->recipients.size() == 1 ? txn_->recipients.front() : "", now_};
  pending_queue_id_ = begin.queue_id;
  actions_.emplace_back(std::move(begin));
  message_open_ = true;
  emit_content(build_received(info));
}

// Appends to the MessageData action queued last, if it is the last action, so a feed that holds
// several BDAT chunks still gives one write.
void Session::emit_content(std::string bytes) {
  if (bytes.empty() || !message_open_) return;
  if (!actions_.empty()) {
    if (auto* data = std::get_if<action::MessageData>(&actions_.back())) {
      data->bytes.append(bytes);
      return;
    }
  }
  actions_.emplace_back(action::MessageData{std::move(bytes)});
}

void Session::discard_message() {
  if (!message_open_) return;
  message_open_ = false;
  actions_.emplace_back(action::DiscardMessage{pending_queue_id_});
}

void Session::finish_message(const DataFindings& findings) {
  if (!findings.ok()) {
    enter(State::command);
    if (findings.too_big) {
      reply(552, "5.3.4", "Error: message file too big");
    } else if (findings.bare_newline) {
      // Postfix smtpd_forbid_bare_newline: content with bare CR/LF is where smuggling hides.
      log::warn(component, id_, "bare_newline", {{"where", "content"}});
      reply(554, "5.6.0", "Error: bare <CR> or <LF> in message content (RFC 5321 2.3.8)");
    } else {
      reply(554, "5.6.0", "Error: text line longer than 1000 octets (RFC 5321 4.5.3.1.6)");
    }
    reset_transaction();  // discards the file
    return;
  }
  message_open_ = false;
  actions_.emplace_back(action::StoreMessage{pending_queue_id_});
  enter(State::wait_store);
}

void Session::on_store_result(bool ok, const std::string& detail, std::chrono::system_clock::time_point now) {
  if (state_ != State::wait_store) return;
  now_ = now;
  if (ok) {
    log::info(component, id_, "queued", {{"queue_id", pending_queue_id_}, {"from", txn_->mail_from},
                                         {"nrcpt", txn_->recipients.size()}, {"identity", identity()}});
    if (config_.policy && !identity().empty()) config_.policy->record_message(identity(), txn_->recipients.size());
    junk_commands_ = 0;  // a client that sends mail is not idling
    reply(250, "2.0.0", "Ok: queued as " + pending_queue_id_);
  } else {
    log::warn(component, id_, "store_failed", {{"queue_id", pending_queue_id_}, {"detail", detail}});
    reply(451, "4.3.0", "Error: queue file write error");
  }
  reset_transaction();
  enter(State::command);
  process();
}

void Session::on_tls_established(TlsInfo tls) {
  if (state_ != State::wait_tls) return;
  log::info(component, id_, "tls", {{"version", tls.version}, {"cipher", tls.cipher}});
  tls_ = std::move(tls);
  // RFC 3207 4.2: discard all knowledge obtained from the client; it must EHLO again.
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();
  reset_transaction();
  input_.clear();
  input_pos_ = 0;
  lines_.reset();
  enter(State::command);
}

void Session::on_timeout(Timeout which) {
  if (state_ == State::closed) return;
  log::info(component, id_, "timeout", {{"which", to_string(which)}, {"state", to_string(state_)}});
  reply(421, "4.4.2", config_.hostname + " Error: timeout exceeded");
  close("timeout");
}

void Session::enter(State next) {
  if (next == state_ || state_ == State::closed) return;  // closed is final
  log::debug(component, id_, "state", {{"old", to_string(state_)}, {"new", to_string(next)}});
  state_ = next;
}

void Session::reply_raw(std::string_view line) {
  // RFC 5321 4.2.1: the last line of a reply has a space (or nothing) after the code.
  const bool last_line = line.size() >= 3 && (line.size() == 3 || line[3] == ' ');
  if (last_line && line[0] >= '2' && line[0] <= '5') ++reply_counts_[static_cast<std::size_t>(line[0] - '2')];
  output_.append(line);
  output_.append("\r\n");
}

void Session::reply(int code, std::string_view enhanced, std::string_view text) {
  // RFC 2034: enhanced codes on every reply (allowed even when the client said HELO).
  reply_raw(std::to_string(code) + " " + std::string(enhanced) + " " + std::string(text));
  count_error(code);
}

void Session::count_error(int code) {
  // Only 5xx count: they are the client's fault; 4xx here are our limits or our failures.
  if (code < 500 || state_ == State::closed) return;
  if (++bad_commands_ > config_.max_bad_commands) {
    log::warn(component, id_, "too_many_errors", {{"count", bad_commands_}});
    reply_raw("421 4.7.0 " + config_.hostname + " Error: too many errors");
    close("too many errors");
  }
}

void Session::close(std::string_view reason) {
  if (state_ == State::closed) return;
  log::info(component, id_, "close", {{"reason", reason}});
  discard_message();
  actions_.emplace_back(action::Close{std::string(reason)});
  enter(State::closed);
}

void Session::reset_transaction() {
  discard_message();
  txn_.reset();
  bdat_remaining_ = 0;
  bdat_last_ = false;
}

std::string Session::take_output() { return std::exchange(output_, {}); }
std::vector<Action> Session::take_actions() { return std::exchange(actions_, {}); }

bool Session::waiting() const {
  return state_ == State::wait_auth || state_ == State::wait_store || state_ == State::wait_tls;
}

Timeout Session::current_timeout() const {
  if (state_ == State::data || state_ == State::bdat_chunk) return Timeout::data;
  return identity().empty() && !client_.trusted ? Timeout::unauthenticated : Timeout::command;
}

bool Session::count_junk() {
  if (++junk_commands_ <= config_.max_junk_commands) return true;
  log::warn(component, id_, "too_many_junk_commands", {{"count", junk_commands_}});
  reply_raw("421 4.7.0 " + config_.hostname + " Error: too many NOOP/RSET/HELP/VRFY commands");
  close("too many junk commands");
  return false;
}

bool Session::closed() const { return state_ == State::closed; }
const std::string& Session::id() const { return id_; }

}  // namespace postern::smtp
