// Golden-transcript player for smtp::ClientSession: see client_transcript.hpp for the format.
#include "tests/smtp/core/client_transcript.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>

#include "smtp/core/client_session.hpp"

namespace postern::smtp::test {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

struct MessageSpec {
  std::string from, body, ret, envid, notify, orcpt;
  std::vector<std::string> to;
  bool eight_bit = false, smtputf8 = false;
};

class ClientPlayer {
 public:
  explicit ClientPlayer(FeedMode mode) : mode_(mode) { config_.helo_name = "postern.example.test"; }

  TranscriptResult run(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line) && result_.ok) {
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      handle(line);
    }
    if (result_.ok) {
      flush();
      collect();
      if (!lines_.empty()) fail("unchecked client line: " + lines_.front());
      if (!actions_.empty()) fail("unchecked action (index " + std::to_string(actions_.front().index()) + ")");
    }
    return result_;
  }

 private:
  void fail(const std::string& message) {
    result_.ok = false;
    result_.failures.push_back("line " + std::to_string(line_no_) + ": " + message);
  }

  void handle(const std::string& line) {
    if (line.empty() || line[0] == '#') return;
    const std::string tag = line.substr(0, 2);
    const std::string body = line.size() > 3 ? line.substr(3) : "";
    if (line.rfind("@ set ", 0) == 0) return set(line.substr(6));
    ensure_session();
    if (tag == "S:" || tag == "S<") {
      server_bytes_ += unescape(body) + (tag == "S:" ? "\r\n" : "");
      return;
    }
    flush();
    collect();
    if (tag == "C:" || tag == "C~") return expect_line(tag, body);
    if (tag == "C.") {
      for (int n = std::stoi(body); n > 0; --n) {
        if (lines_.empty()) return fail("client wrote fewer body lines than expected");
        lines_.pop_front();
      }
      return;
    }
    if (tag == "@ ") return marker(line.substr(2));
    fail("unknown transcript line: " + line);
  }

  void set(const std::string& kv) {
    if (session_) return fail("@ set after the session started");
    const auto eq = kv.find('=');
    const std::string key = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (key == "tls") config_.tls = value == "never" ? ClientTlsPolicy::never : ClientTlsPolicy::required;
    else if (key == "user") config_.user = value;
    else if (key == "password") config_.password = SecretBytes(std::string_view(value));
    else if (key == "helo") config_.helo_name = value;
    else fail("unknown setting " + key);
  }

  void ensure_session() {
    if (!session_) session_ = std::make_unique<ClientSession>(std::move(config_), "c1");
  }

  void flush() {
    if (server_bytes_.empty()) return;
    if (mode_ == FeedMode::byte_by_byte) {
      for (char c : server_bytes_) {
        session_->feed(std::string_view(&c, 1));
        collect();
      }
    } else {
      session_->feed(server_bytes_);
    }
    server_bytes_.clear();
  }

  void collect() {
    if (session_->output_has_secret()) secret_seen_ = true;
    output_ += session_->take_output();
    std::size_t pos;
    while ((pos = output_.find("\r\n")) != std::string::npos) {
      lines_.push_back(output_.substr(0, pos));
      output_.erase(0, pos + 2);
    }
    for (auto& a : session_->take_actions()) actions_.push_back(std::move(a));
  }

  void expect_line(const std::string& tag, const std::string& want) {
    if (lines_.empty()) return fail("expected client line '" + want + "', got nothing");
    const std::string got = lines_.front();
    lines_.pop_front();
    const bool ok = tag == "C:" ? got == unescape(want) : std::regex_match(got, std::regex(want));
    if (!ok) fail("expected client line '" + want + "', got '" + got + "'");
  }

  template <typename T>
  std::optional<T> take_action(const char* name) {
    if (actions_.empty()) {
      fail(std::string("expected action ") + name + ", got none");
      return std::nullopt;
    }
    ClientAction a = std::move(actions_.front());
    actions_.pop_front();
    if (auto* p = std::get_if<T>(&a)) return std::move(*p);
    fail(std::string("expected action ") + name + ", got index " + std::to_string(a.index()));
    return std::nullopt;
  }

  void marker(const std::string& m) {
    std::istringstream words(m);
    std::string verb;
    words >> verb;
    std::string rest;
    std::getline(words, rest);
    if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
    if (verb == "message") return parse_message(rest);
    if (verb == "body") {
      message_.body = unescape(rest);
      return;
    }
    if (verb == "submit") return submit(rest == "refused");
    if (verb == "tls" || verb == "tls-fail") {
      if (!take_action<client_action::StartTls>("StartTls")) return;
      if (!lines_.empty()) return fail("client wrote after STARTTLS before the handshake: " + lines_.front());
      if (verb == "tls") session_->on_tls_established();
      else session_->on_tls_failed(rest);
      return collect();
    }
    if (verb == "done") return expect_done(rest);
    if (verb == "text") return expect_text(rest);
    if (verb == "failed") {
      auto f = take_action<client_action::ConnectionFailed>("ConnectionFailed");
      if (!f) return;
      const bool temporary = rest.rfind("temporary", 0) == 0;
      const std::string sub = rest.substr(rest.find(' ') == std::string::npos ? rest.size() : rest.find(' ') + 1);
      if (f->temporary != temporary) fail("ConnectionFailed temporary=" + std::to_string(f->temporary));
      if (f->reason.find(sub) == std::string::npos) fail("reason '" + f->reason + "' lacks '" + sub + "'");
      return;
    }
    if (verb == "close") {
      take_action<client_action::Close>("Close");
      return;
    }
    if (verb == "ready") {
      if (!session_->ready()) fail("not ready, state " + std::string(to_string(session_->state())));
      return;
    }
    if (verb == "not-ready") {
      if (session_->ready()) fail("ready");
      return;
    }
    if (verb == "closed") {
      if (!session_->closed()) fail("not closed, state " + std::string(to_string(session_->state())));
      return;
    }
    if (verb == "timeout") session_->on_timeout();
    else if (verb == "eof") session_->on_closed();
    else if (verb == "quit") session_->quit();
    else if (verb == "expect-timeout") {
      if (to_string(session_->current_timeout()) != rest) fail("timeout is " + std::string(to_string(session_->current_timeout())));
      return;
    } else if (verb == "secret") {
      if (!secret_seen_) fail("output was not marked secret");
      secret_seen_ = false;
      return;
    } else return fail("unknown marker: " + m);
    collect();
  }

  void parse_message(const std::string& args) {
    message_ = MessageSpec{};
    std::istringstream in(args);
    for (std::string w; in >> w;) {
      const auto eq = w.find('=');
      const std::string key = w.substr(0, eq), value = eq == std::string::npos ? "" : w.substr(eq + 1);
      if (key == "from") message_.from = value == "<>" ? "" : unescape(value);
      else if (key == "to") message_.to = split(value, ',');
      else if (key == "8bit") message_.eight_bit = true;
      else if (key == "utf8") message_.smtputf8 = true;
      else if (key == "ret") message_.ret = value;
      else if (key == "envid") message_.envid = value;
      else if (key == "notify") message_.notify = value;
      else if (key == "orcpt") message_.orcpt = value;
      else fail("unknown message key " + key);
    }
  }

  void submit(bool expect_refused) {
    submitted_ = message_;  // the view must outlive the transaction
    recipients_.clear();
    for (const auto& r : submitted_.to) recipients_.push_back({r, submitted_.notify, submitted_.orcpt});
    OutgoingMessage m;
    m.sender = submitted_.from;
    m.recipients = recipients_;
    m.content = submitted_.body;
    m.eight_bit = submitted_.eight_bit;
    m.smtputf8 = submitted_.smtputf8;
    m.dsn_ret = submitted_.ret;
    m.dsn_envid = submitted_.envid;
    const bool accepted = session_->submit(m);
    if (accepted == expect_refused) fail(std::string("submit returned ") + (accepted ? "true" : "false"));
    collect();
  }

  void expect_done(const std::string& args) {
    auto done = take_action<client_action::MessageDone>("MessageDone");
    if (!done) return;
    last_done_ = done->recipients;
    const auto tokens = split(args, ' ');
    if (tokens.size() != done->recipients.size()) {
      return fail("MessageDone has " + std::to_string(done->recipients.size()) + " recipients");
    }
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const RecipientOutcome& o = done->recipients[i];
      const auto f = split(tokens[i], '/');
      const std::string code = o.code == 0 ? "-" : std::to_string(o.code);
      const std::string got[] = {std::string(to_string(o.status)), code,
                                 o.enhanced_code.empty() ? "-" : o.enhanced_code,
                                 o.queue_id.empty() ? "-" : o.queue_id};
      for (std::size_t k = 0; k < f.size() && k < 4; ++k) {
        if (f[k] != got[k]) {
          fail("recipient " + std::to_string(i) + ": want " + tokens[i] + ", got " + got[0] + "/" + got[1] +
               "/" + got[2] + "/" + got[3] + " (" + o.text + ")");
          break;
        }
      }
    }
  }

  void expect_text(const std::string& args) {
    const auto sp = args.find(' ');
    const std::size_t i = std::stoul(args.substr(0, sp));
    const std::string re = sp == std::string::npos ? "" : args.substr(sp + 1);
    if (i >= last_done_.size()) return fail("no recipient " + std::to_string(i));
    if (!std::regex_match(last_done_[i].text, std::regex(re))) fail("text '" + last_done_[i].text + "' !~ " + re);
  }

  FeedMode mode_;
  ClientConfig config_;
  std::unique_ptr<ClientSession> session_;
  TranscriptResult result_;
  int line_no_ = 0;
  std::string server_bytes_;
  std::string output_;
  std::deque<std::string> lines_;
  std::deque<ClientAction> actions_;
  MessageSpec message_, submitted_;
  std::vector<OutgoingRecipient> recipients_;
  std::vector<RecipientOutcome> last_done_;
  bool secret_seen_ = false;
};

}  // namespace

TranscriptResult play_client_transcript(const std::string& text, FeedMode mode) {
  return ClientPlayer(mode).run(text);
}

}  // namespace postern::smtp::test
