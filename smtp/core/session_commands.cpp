// The verb table and the command handlers (RFC 5321 4.1.1, plus the extensions in session.hpp).
// Policy that applies to a whole verb (needs HELO first, needs TLS, not inside a transaction,
// needs MAIL / RCPT first) is a flag on its row, checked in one place (check_row), as in Postfix
// smtpd_cmd_table and OpenSMTPD smtp_session.c; handlers only parse arguments and act.
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "common/log.hpp"
#include "smtp/core/address.hpp"
#include "smtp/core/session.hpp"

namespace postern::smtp {
namespace {

constexpr std::string_view component = "smtp";

enum Flag : unsigned {
  needs_helo = 1u << 0,       // 503 before HELO/EHLO
  needs_tls = 1u << 1,        // 538 without TLS (RFC 4954 4: AUTH PLAIN/LOGIN only under TLS)
  no_transaction = 1u << 2,   // 503 inside MAIL..DATA (RFC 4954 4, RFC 3207 4)
  needs_mail = 1u << 3,       // 503 without MAIL
  needs_rcpt = 1u << 4,       // 503 without an accepted RCPT
  counted_payload = 1u << 5,  // BDAT: a refused command's chunk must still be read (RFC 3030 2)
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "size [LAST]" (RFC 3030 2); nullopt on bad syntax.
std::optional<std::pair<std::uint64_t, bool>> parse_bdat_args(std::string_view args) {
  const std::size_t space = args.find(' ');
  const std::string_view number = args.substr(0, space);
  const std::string_view rest = space == std::string_view::npos ? "" : trim(args.substr(space));
  std::uint64_t size = 0;
  if (number.empty() || number.size() > 18 ||
      !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::from_chars(number.data(), number.data() + number.size(), size);
  if (!rest.empty() && !iequals(rest, "LAST")) return std::nullopt;
  return std::make_pair(size, !rest.empty());
}

// RFC 3461 4.1: NOTIFY=NEVER, or any of SUCCESS, FAILURE, DELAY once each; upper-cased.
std::optional<std::string> parse_notify(std::string_view value) {
  const std::string upper = to_upper(value);
  if (upper == "NEVER") return upper;
  std::vector<std::string_view> seen;
  std::string_view rest = upper;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    if ((item != "SUCCESS" && item != "FAILURE" && item != "DELAY") ||
        std::find(seen.begin(), seen.end(), item) != seen.end()) {
      return std::nullopt;
    }
    seen.push_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return upper;
}

// RFC 3461 4.2: ORCPT=addr-type ";" xtext, addr-type an atom; at most 500 characters.
bool valid_orcpt(std::string_view value) {
  const std::size_t semi = value.find(';');
  if (semi == 0 || semi == std::string_view::npos || value.size() > 500) return false;
  const std::string_view type = value.substr(0, semi);
  return std::all_of(type.begin(), type.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
         }) &&
         valid_xtext(value.substr(semi + 1));
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

struct Session::Verb {
  std::string_view name;
  unsigned flags;
  Handler handler;
  bool (Session::*available)() const;  // nullptr: always offered; else 502 when it says false
};

std::span<const Session::Verb> Session::verb_table() {
  // clang-format off
  static const std::array<Verb, 13> table{{
      {"EHLO",     0,                                          &Session::cmd_ehlo,     nullptr},
      {"HELO",     0,                                          &Session::cmd_helo,     nullptr},
      {"MAIL",     needs_helo | no_transaction,                &Session::cmd_mail,     nullptr},
      {"RCPT",     needs_helo | needs_mail,                    &Session::cmd_rcpt,     nullptr},
      {"DATA",     needs_helo | needs_rcpt,                    &Session::cmd_data,     nullptr},
      {"BDAT",     needs_helo | needs_rcpt | counted_payload,  &Session::cmd_bdat,     nullptr},
      {"RSET",     0,                                          &Session::cmd_rset,     nullptr},
      {"NOOP",     0,                                          &Session::cmd_noop,     nullptr},
      {"QUIT",     0,                                          &Session::cmd_quit,     nullptr},
      {"HELP",     0,                                          &Session::cmd_help,     nullptr},
      {"VRFY",     0,                                          &Session::cmd_vrfy,     nullptr},
      {"STARTTLS", needs_helo | no_transaction,                &Session::cmd_starttls, &Session::starttls_offered},
      {"AUTH",     needs_helo | needs_tls | no_transaction,    &Session::cmd_auth,     &Session::auth_offered},
  }};
  // clang-format on
  return table;
}

bool Session::starttls_offered() const { return config_.starttls_available && !tls_; }
bool Session::auth_offered() const { return config_.auth_available; }

bool Session::is_local_domain(std::string_view domain) const {
  return std::any_of(config_.domains.begin(), config_.domains.end(),
                     [&](const std::string& d) { return iequals(d, domain); });
}

void Session::dispatch(std::string_view line) {
  const std::size_t space = line.find(' ');
  const std::string_view name = line.substr(0, space);
  const std::string_view args = space == std::string_view::npos ? "" : trim(line.substr(space));
  const auto table = verb_table();
  const auto row = std::find_if(table.begin(), table.end(), [&](const Verb& v) { return iequals(v.name, name); });
  if (row == table.end()) {
    reply(500, "5.5.2", "Error: command not recognized");
    return;
  }
  if ((row->flags & counted_payload) && !parse_bdat_args(args)) {
    skip_bdat_payload(args);  // one reply only: the framing is lost whatever else is wrong
    return;
  }
  if (!check_row(*row)) {
    if (row->flags & counted_payload) skip_bdat_payload(args);
    return;
  }
  (this->*(row->handler))(args);
}

bool Session::check_row(const Verb& row) {
  if (row.available && !(this->*row.available)()) {
    reply(502, "5.5.1", "Error: command not implemented");
  } else if ((row.flags & needs_helo) && helo_.empty()) {
    reply(503, "5.5.1", "Error: send HELO/EHLO first");
  } else if ((row.flags & needs_tls) && !tls_) {
    reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  } else if ((row.flags & no_transaction) && txn_) {
    reply(503, "5.5.1", "Error: MAIL transaction in progress");
  } else if ((row.flags & needs_mail) && !txn_) {
    reply(503, "5.5.1", "Error: need MAIL command");
  } else if ((row.flags & needs_rcpt) && (!txn_ || txn_->recipients.empty())) {
    reply(503, "5.5.1", "Error: need RCPT command");
  } else {
    return true;
  }
  return false;
}

void Session::cmd_ehlo(std::string_view args) {
  const std::string_view domain = args.substr(0, args.find(' '));
  if (domain.empty() || domain.size() > 255 || !printable_ascii(domain)) {
    reply(501, "5.5.4", "Syntax: EHLO hostname");
    return;
  }
  reset_transaction();  // RFC 5321 4.1.4: EHLO implies RSET
  helo_ = std::string(domain);
  esmtp_ = true;
  send_ehlo_reply();
}

void Session::send_ehlo_reply() {
  std::vector<std::string> lines{config_.hostname, "PIPELINING", "SIZE " + std::to_string(config_.max_message_size),
                                 "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN"};
  if (starttls_offered()) lines.emplace_back("STARTTLS");
  if (tls_ && config_.auth_available) lines.emplace_back("AUTH PLAIN LOGIN");  // RFC 4954 4: only under TLS
  for (std::size_t i = 0; i < lines.size(); ++i) {
    reply_raw((i + 1 < lines.size() ? "250-" : "250 ") + lines[i]);
  }
}

void Session::cmd_helo(std::string_view args) {
  const std::string_view domain = args.substr(0, args.find(' '));
  if (domain.empty() || domain.size() > 255 || !printable_ascii(domain)) {
    reply(501, "5.5.4", "Syntax: HELO hostname");
    return;
  }
  reset_transaction();
  helo_ = std::string(domain);
  esmtp_ = false;
  reply_raw("250 " + config_.hostname);
}

bool Session::sender_allowed(std::string_view sender) const {
  // RFC 5321 4.5.5 / RFC 8098 3.3: notifications (DSNs, MDNs) go out with the null sender.
  if (sender.empty() || identity().empty() || !config_.policy) return true;
  return config_.policy->may_send_as(identity(), sender);
}

void Session::cmd_mail(std::string_view args) {
  if (!client_.trusted && identity().empty()) {
    reply(530, "5.7.0", "Authentication required");
    return;
  }
  if (args.size() < 5 || !iequals(args.substr(0, 5), "FROM:")) {
    reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    return;
  }
  const ParsedPath path = parse_path(args.substr(5), PathKind::reverse);
  if (path.error != PathError::none) {
    reply(501, "5.1.7", "Error: bad sender address syntax");
    return;
  }
  const auto params = parse_params(path.rest);
  if (!params) {
    reply(501, "5.5.4", "Error: bad MAIL parameter syntax");
    return;
  }
  Transaction txn;
  txn.mail_from = path.mailbox;
  for (const auto& [key, value] : *params) {
    if (key == "SIZE") {  // RFC 1870 6
      std::uint64_t size = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (value.empty() || value.size() > 19 || ec != std::errc{} || end != value.data() + value.size()) {
        reply(501, "5.5.4", "Error: bad SIZE parameter");
        return;
      }
      if (size > config_.max_message_size) {
        reply(552, "5.3.4", "Error: message size exceeds fixed limit");
        return;
      }
    } else if (key == "BODY" && (iequals(value, "8BITMIME") || iequals(value, "7BIT"))) {  // RFC 6152 2
      txn.eight_bit = iequals(value, "8BITMIME");
    } else if (key == "SMTPUTF8" && value.empty()) {  // RFC 6531 3.4
      txn.smtputf8 = true;
    } else if (key == "AUTH" && !value.empty()) {
      // RFC 4954 5: accepted and not trusted; the Received header names the authenticated user.
    } else if (key == "RET" && txn.dsn_ret.empty() && (iequals(value, "FULL") || iequals(value, "HDRS"))) {
      txn.dsn_ret = to_upper(value);  // RFC 3461 4.3
    } else if (key == "ENVID" && txn.dsn_envid.empty() && !value.empty() && value.size() <= 100 &&
               valid_xtext(value)) {
      txn.dsn_envid = value;  // RFC 3461 4.4: at most 100 characters of xtext
    } else if (key == "BODY" || key == "SMTPUTF8" || key == "AUTH" || key == "RET" || key == "ENVID") {
      reply(501, "5.5.4", "Error: bad " + key + " parameter");
      return;
    } else {
      reply(555, "5.5.4", "Error: unsupported parameter " + key);
      return;
    }
  }
  if (path.non_ascii && !txn.smtputf8) {
    reply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
    return;
  }
  if (!sender_allowed(txn.mail_from)) {
    log::warn(component, id_, "sender_rejected", {{"from", txn.mail_from}, {"identity", identity()}});
    reply(553, "5.7.1", "<" + txn.mail_from + ">: Sender address not owned by user " + identity());
    return;
  }
  if (config_.policy && !identity().empty()) {
    if (auto refused = config_.policy->check_rate(identity(), 1)) {
      log::warn(component, id_, "rate_limited", {{"identity", identity()}, {"limit", refused->limit},
                                                 {"allowed", refused->allowed}, {"retry_after_s", refused->retry_after.count()}});
      reply(450, "4.7.1", "Error: user " + identity() + " exceeded " + std::to_string(refused->allowed) + " " +
                              (refused->limit == "messages_per_hour" ? "messages" : "recipients") +
                              " per hour, try again later");
      return;
    }
  }
  // The log says how the sender was vouched for: an identity (tunnel or AUTH), or only the
  // source network ([smtp] trusted_networks), which binds no sender.
  log::info(component, id_, "mail", {{"from", txn.mail_from}, {"identity", identity()},
                                     {"via", !auth_user_.empty() ? "auth" : !client_.tunnel_user.empty() ? "tunnel" : "trusted_network"}});
  txn_ = std::move(txn);
  reply(250, "2.1.0", "Ok");
}

void Session::cmd_rcpt(std::string_view args) {
  if (txn_->chunking) {  // the envelope went to the spool file at the first BDAT
    reply(503, "5.5.1", "Error: RCPT after BDAT");
    return;
  }
  if (args.size() < 3 || !iequals(args.substr(0, 3), "TO:")) {
    reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    return;
  }
  ParsedPath path = parse_path(args.substr(3), PathKind::forward);
  if (path.error != PathError::none) {
    reply(501, "5.1.3", "Error: bad recipient address syntax");
    return;
  }
  const auto params = parse_params(path.rest);
  if (!params) {
    reply(501, "5.5.4", "Error: bad RCPT parameter syntax");
    return;
  }
  RecipientDsn dsn;
  for (const auto& [key, value] : *params) {
    if (key == "NOTIFY" && dsn.notify.empty()) {
      auto notify = parse_notify(value);
      if (!notify) {
        reply(501, "5.5.4", "Error: bad NOTIFY parameter");
        return;
      }
      dsn.notify = std::move(*notify);
    } else if (key == "ORCPT" && dsn.orcpt.empty()) {
      if (!valid_orcpt(value)) {
        reply(501, "5.5.4", "Error: bad ORCPT parameter");
        return;
      }
      dsn.orcpt = value;
    } else if (key == "NOTIFY" || key == "ORCPT") {
      reply(501, "5.5.4", "Error: duplicate " + key + " parameter");
      return;
    } else {
      reply(555, "5.5.4", "Error: unsupported RCPT parameter " + key);
      return;
    }
  }
  if (path.non_ascii && !txn_->smtputf8) {
    reply(553, "5.6.7", "Error: non-ASCII address requires SMTPUTF8");
    return;
  }
  if (txn_->recipients.size() >= config_.max_recipients) {
    reply(452, "4.5.3", "Error: too many recipients");
    return;
  }
  // RFC 5321 4.5.1: <Postmaster> must be accepted; it goes to the first local domain.
  if (domain_of(path.mailbox).empty() && !config_.domains.empty()) {
    path.mailbox = "postmaster@" + config_.domains.front();
  }
  // MAIL already required a submitter (an identity or a trusted source): only they get this
  // far, so a configured relay never makes an open relay.
  const bool local = is_local_domain(domain_of(path.mailbox));
  if (!local && !config_.relay_available) {
    log::info(component, id_, "rcpt_rejected", {{"to", path.mailbox}, {"reason", "relay"}});
    reply(550, "5.7.1", "<" + path.mailbox + ">: Relay access denied");
    return;
  }
  std::vector<std::string> targets{path.mailbox};
  if (local && config_.policy) {
    auto resolved = config_.policy->resolve_local(path.mailbox);
    if (!resolved || resolved->empty()) {
      log::info(component, id_, "rcpt_rejected", {{"to", path.mailbox}, {"reason", "unknown_recipient"}});
      reply(550, "5.1.1", "<" + path.mailbox + ">: Recipient address rejected: User unknown");
      return;
    }
    targets = std::move(*resolved);
  }
  const std::size_t before = txn_->recipients.size();
  for (const std::string& target : targets) {
    if (!add_recipient(target, path.mailbox, dsn)) {
      txn_->recipients.resize(before);  // an alias is taken whole or not at all
      txn_->recipient_dsn.resize(before);
      reply(452, "4.5.3", "Error: too many recipients");
      return;
    }
  }
  if (config_.policy && !identity().empty() && txn_->recipients.size() > before) {
    if (auto refused = config_.policy->check_rate(identity(), txn_->recipients.size());
        refused && refused->limit == "recipients_per_hour") {
      txn_->recipients.resize(before);
      txn_->recipient_dsn.resize(before);
      log::warn(component, id_, "rate_limited", {{"identity", identity()}, {"limit", refused->limit},
                                                 {"allowed", refused->allowed}, {"retry_after_s", refused->retry_after.count()}});
      reply(452, "4.7.1", "Error: user " + identity() + " exceeded " + std::to_string(refused->allowed) +
                              " recipients per hour, try again later");
      return;
    }
  }
  log::info(component, id_, "rcpt", {{"to", path.mailbox}, {"route", local ? "local" : "relay"},
                                     {"expanded", targets.size()}});
  reply(250, "2.1.5", "Ok");
}

// Adds one envelope recipient (duplicates collapse, keeping the first one's DSN parameters);
// false when the transaction already holds max_recipients.
bool Session::add_recipient(const std::string& mailbox, const std::string& written, const RecipientDsn& dsn) {
  if (std::find(txn_->recipients.begin(), txn_->recipients.end(), mailbox) != txn_->recipients.end()) return true;
  if (txn_->recipients.size() >= config_.max_recipients) return false;
  txn_->recipients.push_back(mailbox);
  RecipientDsn kept = dsn;
  // An alias target keeps the address the client wrote as its original recipient (RFC 3461 4.2),
  // so a bounce names what the sender typed.
  if (kept.orcpt.empty() && mailbox != written) kept.orcpt = "rfc822;" + encode_xtext(written);
  txn_->recipient_dsn.push_back(std::move(kept));
  return true;
}

void Session::cmd_data(std::string_view args) {
  if (!args.empty()) {
    reply(501, "5.5.4", "Syntax: DATA");
    return;
  }
  if (txn_->chunking) {  // RFC 3030 2: DATA after BDAT in one transaction
    reply(503, "5.5.1", "Error: DATA after BDAT");
    return;
  }
  txn_->body.emplace(Framing::dot, config_.max_message_size, config_.max_text_line);
  reply_raw("354 End data with <CR><LF>.<CR><LF>");
  begin_message();
  enter(State::data);
}

void Session::cmd_bdat(std::string_view args) {
  const auto parsed = parse_bdat_args(args);
  if (!parsed) {
    skip_bdat_payload(args);  // replies and closes: the framing is lost
    return;
  }
  if (!txn_->body) {
    txn_->body.emplace(Framing::counted, config_.max_message_size, config_.max_text_line);
    begin_message();
  }
  txn_->chunking = true;
  bdat_remaining_ = parsed->first;
  bdat_last_ = parsed->second;
  bdat_discard_ = false;
  enter(State::bdat_chunk);
  if (bdat_remaining_ == 0) complete_chunk();  // "BDAT 0 LAST" ends the message at once
}

void Session::skip_bdat_payload(std::string_view args) {
  const auto parsed = parse_bdat_args(args);
  if (!parsed) {
    // Without a size we cannot know where the chunk ends; reading on would execute message
    // content as commands, so give up on the connection.
    reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
    reply_raw("421 4.7.0 " + config_.hostname + " Error: BDAT framing lost, closing");
    close("bad BDAT syntax");
    return;
  }
  if (closed() || parsed->first == 0) return;
  bdat_remaining_ = parsed->first;
  bdat_last_ = parsed->second;
  bdat_discard_ = true;
  enter(State::bdat_chunk);
}

void Session::cmd_rset(std::string_view args) {
  if (!count_junk()) return;
  if (!args.empty()) {
    reply(501, "5.5.4", "Syntax: RSET");
    return;
  }
  reset_transaction();
  reply(250, "2.0.0", "Ok");
}

void Session::cmd_noop(std::string_view /*args*/) {
  if (count_junk()) reply(250, "2.0.0", "Ok");
}

void Session::cmd_quit(std::string_view /*args*/) {
  reply(221, "2.0.0", "Bye");
  close("quit");
}

void Session::cmd_help(std::string_view /*args*/) {
  if (!count_junk()) return;
  reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH");
}

void Session::cmd_vrfy(std::string_view args) {
  if (!count_junk()) return;
  if (args.empty()) {
    reply(501, "5.5.4", "Syntax: VRFY address");
    return;
  }
  // RFC 5321 3.5.3: 252 neither confirms nor denies (no user enumeration).
  reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void Session::cmd_starttls(std::string_view args) {
  if (!args.empty()) {
    reply(501, "5.5.4", "Syntax: STARTTLS");
    return;
  }
  if (input_pending()) {
    // RFC 3207 4.2 / CVE-2011-0411: plaintext pipelined after STARTTLS would be executed as if it
    // came over TLS. Refuse and close rather than guess.
    log::warn(component, id_, "starttls_injection", {{"bytes", pending_input().size()}, {"when", "pipelined"}});
    reply(554, "5.5.0", "Error: pipelined commands after STARTTLS");
    close("commands pipelined after STARTTLS");
    return;
  }
  reply(220, "2.0.0", "Ready to start TLS");
  actions_.emplace_back(action::StartTls{});
  enter(State::wait_tls);
}

}  // namespace postern::smtp
