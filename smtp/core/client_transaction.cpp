// ClientSession, transaction part: MAIL FROM (SIZE, BODY, SMTPUTF8, RET, ENVID), RCPT TO
// (NOTIFY, ORCPT), DATA, the dot-stuffed body and the final reply; with PIPELINING (RFC 2920)
// MAIL + every RCPT + DATA go out in one write and the replies are matched in order.
// Outcome rules: RCPT 2xx then a 2xx to "." -> delivered; 4xx anywhere -> temporary; 5xx ->
// permanent for that recipient (5xx to MAIL, DATA or "." -> every recipient still open).
// If no RCPT was accepted there is no DATA (RSET instead; with pipelining the relay refuses our
// DATA, and if it says 354 anyway we send a lone "." as RFC 2920 3.1 asks).
#include "smtp/core/client_session.hpp"

#include <algorithm>
#include <string>

namespace postern::smtp {
namespace {

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

RecipientStatus status_of(const Reply& reply) {
  return reply.permanent() ? RecipientStatus::permanent : RecipientStatus::temporary;
}

}  // namespace

void encode_dot_stuffed(std::string_view content, std::string& out) {
  out.reserve(out.size() + content.size() + content.size() / 64 + 5);
  bool line_start = true;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const char c = content[i];
    if (c == '\r' || c == '\n') {
      out.append("\r\n");
      if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') ++i;
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out.push_back('.');  // RFC 5321 4.5.2
    out.push_back(c);
    line_start = false;
  }
  if (!line_start) out.append("\r\n");
  out.append(".\r\n");
}

bool ClientSession::submit(const OutgoingMessage& message) {
  if (!ready()) return false;
  ++messages_;
  Transaction t;
  t.message = message;
  const std::size_t n = message.recipients.size();
  t.outcomes.resize(n);
  t.accepted.assign(n, false);
  t.final.assign(n, false);
  t.pipelined = caps_.pipelining;
  txn_ = std::move(t);
  enter(ClientState::transaction);

  // Refusals decided here, before anything is sent: the relay could only refuse these later.
  const std::uint64_t size = message.content.size();
  if (n == 0) return finish_transaction(false), true;
  if (caps_.size && caps_.size_limit != 0 && size > caps_.size_limit) {
    refuse_all(RecipientStatus::permanent, "5.3.4",
               "message size " + std::to_string(size) + " exceeds the relay's limit " +
                   std::to_string(caps_.size_limit));
    return finish_transaction(false), true;
  }
  if (message.eight_bit && !caps_.eightbitmime) {
    refuse_all(RecipientStatus::permanent, "5.6.3", "relay does not support 8BITMIME");
    return finish_transaction(false), true;
  }
  if (message.smtputf8 && !caps_.smtputf8) {
    refuse_all(RecipientStatus::permanent, "5.6.7", "relay does not support SMTPUTF8");
    return finish_transaction(false), true;
  }
  // The spool only holds what our own session accepted, but a command line must never be split.
  bool broken = has_line_break(message.sender) || has_line_break(message.dsn_envid) ||
                has_line_break(message.dsn_ret);
  for (const auto& r : message.recipients) {
    broken = broken || has_line_break(r.address) || has_line_break(r.notify) || has_line_break(r.orcpt);
  }
  if (broken) {
    refuse_all(RecipientStatus::permanent, "5.5.2", "envelope contains a line break");
    return finish_transaction(false), true;
  }

  send(mail_command(), Expect::mail);
  if (txn_->pipelined) {
    for (std::size_t i = 0; i < n; ++i) send(rcpt_command(i), Expect::rcpt, i);
    txn_->next_rcpt = n;
    send("DATA", Expect::data);
  }
  return true;
}

std::string ClientSession::mail_command() const {
  const OutgoingMessage& m = txn_->message;
  std::string line = "MAIL FROM:<" + std::string(m.sender) + ">";
  if (caps_.size) line += " SIZE=" + std::to_string(m.content.size());  // RFC 1870 6
  if (m.eight_bit) line += " BODY=8BITMIME";                              // RFC 6152 2
  if (m.smtputf8) line += " SMTPUTF8";                                    // RFC 6531 3.4
  if (caps_.dsn) {                                                        // RFC 3461 4.3, 4.4
    if (!m.dsn_ret.empty()) line += " RET=" + std::string(m.dsn_ret);
    if (!m.dsn_envid.empty()) line += " ENVID=" + std::string(m.dsn_envid);
  }
  return line;
}

std::string ClientSession::rcpt_command(std::size_t index) const {
  const OutgoingRecipient& r = txn_->message.recipients[index];
  std::string line = "RCPT TO:<" + std::string(r.address) + ">";
  if (caps_.dsn) {  // RFC 3461 4.1, 4.2
    if (!r.notify.empty()) line += " NOTIFY=" + std::string(r.notify);
    if (!r.orcpt.empty()) line += " ORCPT=" + std::string(r.orcpt);
  }
  return line;
}

void ClientSession::on_mail(const Reply& reply) {
  if (!txn_) return;
  if (reply.code / 100 == 2) {
    if (!txn_->pipelined) send_next_rcpt_or_data();
    return;
  }
  txn_->mail_failed = true;
  settle_accepted(reply);
  for (std::size_t i = 0; i < txn_->outcomes.size(); ++i) settle(i, reply);
  // Pipelined: the RCPT and DATA replies are still to come; they change nothing.
  if (!txn_->pipelined) finish_transaction(false);
}

void ClientSession::on_rcpt(const Reply& reply, std::size_t index) {
  if (!txn_ || index >= txn_->outcomes.size()) return;
  if (!txn_->mail_failed) {
    if (reply.code / 100 == 2) {
      txn_->accepted[index] = true;
    } else {
      settle(index, reply);
    }
  }
  if (!txn_->pipelined) send_next_rcpt_or_data();
}

void ClientSession::send_next_rcpt_or_data() {
  Transaction& t = *txn_;
  if (t.next_rcpt < t.outcomes.size()) {
    const std::size_t i = t.next_rcpt++;
    send(rcpt_command(i), Expect::rcpt, i);
    return;
  }
  if (std::find(t.accepted.begin(), t.accepted.end(), true) == t.accepted.end()) {
    return finish_transaction(true);  // every RCPT refused: no DATA
  }
  send("DATA", Expect::data);
}

void ClientSession::on_data(const Reply& reply) {
  if (!txn_) return;
  Transaction& t = *txn_;
  const bool any_accepted = !t.mail_failed && std::find(t.accepted.begin(), t.accepted.end(), true) != t.accepted.end();
  if (reply.code == 354) {
    if (!any_accepted) {  // RFC 2920 3.1: end the data at once; there is no one to deliver to
      output_.append(".\r\n");
      pending_.push_back({Expect::dot_discard});
      return;
    }
    encode_dot_stuffed(t.message.content, output_);
    pending_.push_back({Expect::dot});
    return;
  }
  settle_accepted(reply);
  finish_transaction(true);
}

void ClientSession::on_dot(const Reply& reply) {
  if (!txn_) return;
  if (reply.code / 100 == 2) {
    const std::string queue_id = queue_id_of(reply);
    for (std::size_t i = 0; i < txn_->outcomes.size(); ++i) {
      if (txn_->final[i] || !txn_->accepted[i]) continue;
      RecipientOutcome& o = txn_->outcomes[i];
      o.status = RecipientStatus::delivered;
      o.code = reply.code;
      o.enhanced_code = enhanced_code_of(reply);
      o.text = reply.verbatim();
      o.queue_id = queue_id;
      txn_->final[i] = true;
    }
  } else {
    settle_accepted(reply);
  }
  finish_transaction(false);  // the reply to "." ends the transaction either way (RFC 5321 4.1.1.4)
}

void ClientSession::on_rset(const Reply& reply) {
  if (reply.code / 100 != 2) return fail("relay refused RSET: " + reply.verbatim(), true, true);
  if (state_ == ClientState::transaction && !txn_) enter(ClientState::ready);
}

// Outcome for recipient `index` from a refusal, unless it has one already.
void ClientSession::settle(std::size_t index, const Reply& reply) {
  if (txn_->final[index]) return;
  RecipientOutcome& o = txn_->outcomes[index];
  o.status = status_of(reply);
  o.code = reply.code;
  o.enhanced_code = enhanced_code_of(reply);
  o.text = reply.verbatim();
  txn_->final[index] = true;
}

void ClientSession::settle_accepted(const Reply& reply) {
  for (std::size_t i = 0; i < txn_->outcomes.size(); ++i) {
    if (txn_->accepted[i]) settle(i, reply);
  }
}

void ClientSession::refuse_all(RecipientStatus status, std::string_view enhanced, std::string text) {
  for (std::size_t i = 0; i < txn_->outcomes.size(); ++i) {
    RecipientOutcome& o = txn_->outcomes[i];
    o.status = status;
    o.enhanced_code = std::string(enhanced);
    o.text = text;
    txn_->final[i] = true;
  }
}

// Every recipient has its outcome: report them. With send_rset the relay still holds a
// transaction (refused DATA, or no RCPT accepted); the session is ready after RSET's 250.
void ClientSession::finish_transaction(bool send_rset) {
  fail_unsettled("relay gave no final reply");
  if (send_rset) {
    send("RSET", Expect::rset);
  } else {
    enter(ClientState::ready);
  }
}

// Reports the message in flight (if any): recipients without an outcome get a temporary one.
void ClientSession::fail_unsettled(const std::string& reason) {
  if (!txn_) return;
  Transaction t = std::move(*txn_);
  txn_.reset();
  for (std::size_t i = 0; i < t.outcomes.size(); ++i) {
    if (t.final[i]) continue;
    t.outcomes[i].status = RecipientStatus::temporary;
    t.outcomes[i].text = reason;
  }
  actions_.emplace_back(client_action::MessageDone{std::move(t.outcomes)});
}

}  // namespace postern::smtp
