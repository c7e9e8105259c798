// AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) mechanisms.
// Contract: the password goes from the base64 decoder into SecretBytes and on in VerifyAuth; it
// is never logged and never kept by the session. The verdict comes back via on_auth_result().
// Continuation lines may be up to 12288 octets (RFC 4954 4); "*" cancels with 501.
#include "common/log.hpp"
#include "smtp/core/address.hpp"
#include "smtp/core/session.hpp"

#include <openssl/crypto.h>

namespace postern::smtp {
namespace {
constexpr std::string_view component = "smtp";
constexpr std::size_t max_auth_line = 12288;
// base64 of "Username:" and "Password:", the de-facto LOGIN challenges.
constexpr std::string_view login_user_challenge = "334 VXNlcm5hbWU6";
constexpr std::string_view login_password_challenge = "334 UGFzc3dvcmQ6";
}  // namespace

void Session::cmd_auth(std::string_view args) {
  wipe_input_ = true;
  if (!auth_user_.empty()) {  // RFC 4954 4: once per session
    reply(503, "5.5.1", "Error: already authenticated");
    return;
  }
  const std::size_t space = args.find(' ');
  const std::string mechanism = to_upper(args.substr(0, space));
  const std::string_view initial = space == std::string_view::npos ? "" : args.substr(space + 1);
  const bool has_initial = space != std::string_view::npos && !initial.empty();
  if (mechanism == "PLAIN") {
    if (has_initial) {
      auth_plain_response(initial);
      return;
    }
    reply_raw("334 ");
    enter(State::auth_plain);
  } else if (mechanism == "LOGIN") {
    if (has_initial) {
      auth_login_user(initial);
      return;
    }
    reply_raw(login_user_challenge);
    enter(State::auth_login_user);
  } else {
    reply(504, "5.5.4", "Error: unrecognized authentication type");
    return;
  }
  lines_.set_max_line(max_auth_line);
}

void Session::process_auth_line() {
  wipe_input_ = true;
  auto result = lines_.put(pending_input());  // not const: the line is moved out, not copied
  input_pos_ += result.consumed;
  if (!result.line) return;
  Line line = std::move(*result.line);
  const State step = state_;
  lines_.set_max_line(config_.max_command_line);
  enter(State::command);
  if (line.status == LineStatus::too_long) {
    reply(500, "5.5.6", "Error: authentication exchange line is too long");
  } else if (line.status == LineStatus::bare_newline) {
    reply(501, "5.5.2", "Error: bare <CR> or <LF> in authentication exchange");
  } else if (line.text == "*") {
    auth_cancelled();
  } else if (step == State::auth_plain) {
    auth_plain_response(line.text);
  } else if (step == State::auth_login_user) {
    auth_login_user(line.text);
  } else {
    auth_login_password(line.text);
  }
  OPENSSL_cleanse(line.text.data(), line.text.size());
}

void Session::auth_cancelled() {
  log::info(component, id_, "auth", {{"result", "cancelled"}});
  reply(501, "5.0.0", "Authentication aborted");
}

void Session::auth_plain_response(std::string_view b64) {
  // RFC 4954 4: "=" is an empty initial response.
  auto decoded = b64 == "=" ? std::optional<SecretBytes>(SecretBytes()) : decode_base64(b64);
  if (!decoded) {
    reply(501, "5.5.2", "Error: cannot decode response");
    return;
  }
  auto creds = parse_plain(*decoded);
  if (!creds) {
    reply(501, "5.5.2", "Error: malformed PLAIN response");
    return;
  }
  if (!creds->authzid.empty() && creds->authzid != creds->authcid) {  // no proxy authorization
    log::warn(component, id_, "auth", {{"result", "fail"}, {"user", creds->authcid}, {"reason", "authzid"}});
    reply(535, "5.7.8", "Error: authentication failed");
    return;
  }
  start_auth(std::move(*creds));
}

void Session::auth_login_user(std::string_view b64) {
  auto decoded = decode_base64(b64);
  if (!decoded || decoded->empty() || decoded->view().find('\0') != std::string_view::npos) {
    reply(501, "5.5.2", "Error: cannot decode response");
    return;
  }
  auth_login_name_ = std::string(decoded->view());
  reply_raw(login_password_challenge);
  enter(State::auth_login_password);
  lines_.set_max_line(max_auth_line);
}

void Session::auth_login_password(std::string_view b64) {
  auto decoded = decode_base64(b64);
  if (!decoded) {
    reply(501, "5.5.2", "Error: cannot decode response");
    return;
  }
  start_auth(PlainCredentials{"", std::exchange(auth_login_name_, {}), std::move(*decoded)});
}

void Session::start_auth(PlainCredentials creds) {
  // One identity per connection: over the tunnel, AUTH may only confirm the tunnel user (no
  // password check is run for another name, so this cannot be used to guess passwords).
  if (!client_.tunnel_user.empty() && creds.authcid != client_.tunnel_user) {
    log::warn(component, id_, "auth", {{"result", "refused"}, {"user", creds.authcid},
                                       {"tunnel_user", client_.tunnel_user}});
    creds.password.wipe();
    enter(State::command);
    reply(535, "5.7.8", "Error: this tunnel belongs to " + client_.tunnel_user + ", not " + creds.authcid);
    return;
  }
  pending_auth_user_ = creds.authcid;
  actions_.emplace_back(action::VerifyAuth{std::move(creds.authcid), std::move(creds.password)});
  enter(State::wait_auth);
}

void Session::on_auth_unavailable(std::chrono::system_clock::time_point now) {
  if (state_ != State::wait_auth) return;
  now_ = now;
  enter(State::command);
  log::warn(component, id_, "auth", {{"result", "unavailable"}, {"user", pending_auth_user_}});
  pending_auth_user_.clear();
  reply(454, "4.7.0", "Temporary authentication failure, try again later");
  process();
}

void Session::on_auth_result(bool ok, std::chrono::system_clock::time_point now) {
  if (state_ != State::wait_auth) return;
  now_ = now;
  enter(State::command);
  if (ok) {
    auth_user_ = std::exchange(pending_auth_user_, {});
    log::info(component, id_, "auth", {{"result", "ok"}, {"user", auth_user_}});
    reply(235, "2.7.0", "Authentication successful");
  } else {
    log::warn(component, id_, "auth", {{"result", "fail"}, {"user", pending_auth_user_}});
    pending_auth_user_.clear();
    reply(535, "5.7.8", "Error: authentication failed");
  }
  process();
}

}  // namespace postern::smtp
