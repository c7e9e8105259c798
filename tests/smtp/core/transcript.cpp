// Golden-transcript player: see transcript.hpp for the file format.
#include "tests/smtp/core/transcript.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

#include "smtp/core/session.hpp"

namespace postern::smtp::test {
namespace {

using namespace std::chrono;

system_clock::time_point fixed_now() {
  return sys_days{year{2026} / November / 27} + hours{20} + minutes{41} + seconds{7};
}

std::vector<std::string> split_crlf(std::string& buffer) {
  std::vector<std::string> lines;
  std::size_t pos;
  while ((pos = buffer.find("\r\n")) != std::string::npos) {
    lines.push_back(buffer.substr(0, pos));
    buffer.erase(0, pos + 2);
  }
  return lines;
}

// `@ set policy=yes`: identity "alice" may send as alice@example.test and *@example.org;
// local recipients are alice, bob and postmaster @example.test, team@example.test is an alias for
// alice, bob and partner@elsewhere.test; at most 2 messages and 5 recipients per hour.
class FakePolicy : public SubmissionPolicy {
 public:
  bool may_send_as(std::string_view identity, std::string_view sender) const override {
    return identity == "alice" && (sender == "alice@example.test" || sender.ends_with("@example.org"));
  }
  std::optional<std::vector<std::string>> resolve_local(std::string_view rcpt) const override {
    if (rcpt == "team@example.test") return std::vector<std::string>{"alice@example.test", "bob@example.test", "partner@elsewhere.test"};
    for (const char* known : {"alice@example.test", "bob@example.test", "postmaster@example.test"}) {
      if (rcpt == known) return std::vector<std::string>{known};
    }
    return std::nullopt;
  }
  std::optional<RateRefusal> check_rate(std::string_view, std::size_t recipients) override {
    if (messages_ + 1 > 2) return RateRefusal{"messages_per_hour", 2, std::chrono::seconds(3600)};
    if (recipients_ + recipients > 5) return RateRefusal{"recipients_per_hour", 5, std::chrono::seconds(3600)};
    return std::nullopt;
  }
  void record_message(std::string_view, std::size_t recipients) override {
    ++messages_;
    recipients_ += recipients;
  }

 private:
  std::size_t messages_ = 0, recipients_ = 0;
};

class Player {
 public:
  explicit Player(FeedMode mode) : mode_(mode) {
    config_.hostname = "mail.example.test";
    config_.max_message_size = 100000;
    config_.domains = {"example.test", "Example.ORG"};
    config_.starttls_available = true;
    config_.auth_available = true;
    client_ = ClientInfo{"10.77.0.2", 40112, true, "alice"};
  }

  TranscriptResult run(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line) && result_.ok) {
      ++line_no_;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      handle(line);
    }
    if (result_.ok) finish();
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
    if (tag == "@ " && line.rfind("@ set ", 0) == 0) return set(line.substr(6));
    ensure_session();
    if (tag == "C:" || tag == "C<") {
      if (!lines_.empty()) return fail("unchecked reply: " + lines_.front());
      check_no_actions();
      client_bytes_ += unescape(body) + (tag == "C:" ? "\r\n" : "");
      return;
    }
    flush();
    if (tag == "S:" || tag == "S~" || tag == "S^") return expect_reply(tag, body);
    if (line.rfind("S... ", 0) == 0) return skip_replies(line.substr(5));
    if (tag == "M:" || tag == "M~") return expect_message_line(tag, body);
    if (tag == "M*") return skip_header(body);
    if (tag == "E:") return expect_envelope(body);
    if (tag == "@ ") return marker(line.substr(2));
    fail("unknown transcript line: " + line);
  }

  void set(const std::string& kv) {
    if (session_) return fail("@ set after the session started");
    const auto eq = kv.find('=');
    const std::string key = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (key == "trusted") client_.trusted = value == "yes";
    else if (key == "tunnel_user") client_.tunnel_user = value;
    else if (key == "starttls") config_.starttls_available = value == "yes";
    else if (key == "auth") config_.auth_available = value == "yes";
    else if (key == "relay") config_.relay_available = value == "yes";
    else if (key == "policy") config_.policy = value == "yes" ? &policy_ : nullptr;
    else if (key == "implicit_tls") implicit_tls_ = value == "yes";
    else if (key == "max_size") config_.max_message_size = std::stoull(value);
    else if (key == "max_recipients") config_.max_recipients = std::stoul(value);
    else if (key == "max_bad") config_.max_bad_commands = std::stoi(value);
    else if (key == "max_junk") config_.max_junk_commands = std::stoi(value);
    else if (key == "max_text_line") config_.max_text_line = std::stoul(value);
    else if (key == "no_split") no_split_ = true;
    else fail("unknown setting " + key);
  }

  void ensure_session() {
    if (session_) return;
    session_ = std::make_unique<Session>(config_, client_, "t1", [this] { return "Q" + std::to_string(++queue_ids_); });
    if (implicit_tls_) session_->set_tls_active(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
    session_->start(fixed_now());
    collect();
  }

  // The streaming actions are performed here, as the adapter does: BeginMessage opens the
  // "file", MessageData appends to it, DiscardMessage drops it; StoreMessage waits for "@ store".
  void collect() {
    output_ += session_->take_output();
    for (auto& l : split_crlf(output_)) lines_.push_back(std::move(l));
    for (auto& a : session_->take_actions()) {
      if (auto* begin = std::get_if<action::BeginMessage>(&a)) {
        if (open_) fail("BeginMessage while message " + open_id_ + " is open");
        open_ = true;
        open_id_ = begin->queue_id;
        open_envelope_ = begin->envelope;
        open_bytes_.clear();
      } else if (auto* data = std::get_if<action::MessageData>(&a)) {
        if (!open_) fail("MessageData without an open message");
        if (data->bytes.size() > max_data_) max_data_ = data->bytes.size();
        open_bytes_ += data->bytes;
      } else if (auto* discard = std::get_if<action::DiscardMessage>(&a)) {
        if (!open_ || discard->queue_id != open_id_) fail("DiscardMessage for a message not open");
        open_ = false;
        ++discarded_;
      } else {
        if (auto* store = std::get_if<action::StoreMessage>(&a)) {
          if (!open_ || store->queue_id != open_id_) fail("StoreMessage for a message not open");
          open_ = false;
        }
        actions_.push_back(std::move(a));
      }
    }
  }

  void flush() {
    if (client_bytes_.empty()) return;
    if (mode_ == FeedMode::byte_by_byte && !no_split_) {
      for (char c : client_bytes_) session_->feed(std::span<const char>(&c, 1), fixed_now());
    } else {
      session_->feed(std::span<const char>(client_bytes_.data(), client_bytes_.size()), fixed_now());
    }
    client_bytes_.clear();
    collect();
  }

  void check_no_actions() {
    if (!actions_.empty()) fail("unexpected action (index " + std::to_string(actions_.front().index()) + ")");
  }

  static bool match(const std::string& tag, const std::string& want, const std::string& got) {
    if (tag == "S:" || tag == "M:") return got == unescape(want);
    if (tag == "S^") return got.rfind(want, 0) == 0;
    return std::regex_match(got, std::regex(want));
  }

  void expect_reply(const std::string& tag, const std::string& want) {
    if (lines_.empty()) return fail("expected reply '" + want + "', got nothing");
    const std::string got = lines_.front();
    lines_.pop_front();
    if (!match(tag, want, got)) fail("expected reply '" + want + "', got '" + got + "'");
  }

  void skip_replies(const std::string& prefix) {
    while (!lines_.empty() && lines_.front().rfind(prefix, 0) != 0) lines_.pop_front();
    if (lines_.empty()) return fail("no reply line starts with '" + prefix + "'");
    lines_.pop_front();
  }

  void expect_message_line(const std::string& tag, const std::string& want) {
    if (message_lines_.empty()) return fail("expected message line '" + want + "', message has no more");
    const std::string got = message_lines_.front();
    message_lines_.pop_front();
    if (!match(tag, want, got)) fail("expected message line '" + want + "', got '" + got + "'");
  }

  // Skips one header field (its first line must start with prefix) and its continuation lines.
  void skip_header(const std::string& prefix) {
    if (message_lines_.empty() || message_lines_.front().rfind(prefix, 0) != 0) {
      return fail("expected a header line starting with '" + prefix + "'");
    }
    message_lines_.pop_front();
    while (!message_lines_.empty() && !message_lines_.front().empty() &&
           (message_lines_.front()[0] == '\t' || message_lines_.front()[0] == ' ')) {
      message_lines_.pop_front();
    }
  }

  // "from to1 to2 ...": each recipient followed by [notify|orcpt] when it has DSN parameters,
  // and "ret=... envid=..." after the sender when the transaction had them.
  void expect_envelope(const std::string& want) {
    std::string got = envelope_.mail_from.empty() ? "<>" : envelope_.mail_from;
    if (!envelope_.dsn_ret.empty()) got += " ret=" + envelope_.dsn_ret;
    if (!envelope_.dsn_envid.empty()) got += " envid=" + envelope_.dsn_envid;
    for (std::size_t i = 0; i < envelope_.recipients.size(); ++i) {
      got += " " + envelope_.recipients[i];
      const RecipientDsn& dsn = envelope_.recipient_dsn.at(i);
      if (!dsn.notify.empty() || !dsn.orcpt.empty()) got += "[" + dsn.notify + "|" + dsn.orcpt + "]";
    }
    if (got != want) fail("expected envelope '" + want + "', got '" + got + "'");
  }

  template <typename T>
  std::optional<T> take_action() {
    if (actions_.empty() || !std::holds_alternative<T>(actions_.front())) return std::nullopt;
    T a = std::move(std::get<T>(actions_.front()));
    actions_.pop_front();
    return a;
  }

  void marker(const std::string& m);
  void finish() {
    flush();
    if (!lines_.empty()) return fail("unchecked reply at end: " + lines_.front());
    check_no_actions();
    if (!message_lines_.empty()) fail("unchecked message line at end: " + message_lines_.front());
  }

  FeedMode mode_;
  FakePolicy policy_;
  SessionConfig config_;
  ClientInfo client_;
  bool implicit_tls_ = false;
  bool no_split_ = false;
  std::unique_ptr<Session> session_;
  int queue_ids_ = 0;
  int stored_ = 0;
  int discarded_ = 0;
  bool open_ = false;  // a BeginMessage not yet stored or discarded
  std::string open_id_;
  Envelope open_envelope_;
  std::string open_bytes_;
  std::size_t max_data_ = 0;  // the largest MessageData seen
  std::string client_bytes_;
  std::string output_;
  std::deque<std::string> lines_;
  std::deque<Action> actions_;
  std::deque<std::string> message_lines_;
  Envelope envelope_;
  int line_no_ = 0;
  TranscriptResult result_;
};

void Player::marker(const std::string& m) {
  std::istringstream words(m);
  std::string verb, arg, extra;
  words >> verb >> arg >> extra;
  if (verb == "auth") {
    auto a = take_action<action::VerifyAuth>();
    if (!a) return fail("expected a VerifyAuth action");
    if (!extra.empty() && a->user != extra) return fail("VerifyAuth user '" + a->user + "' != '" + extra + "'");
    // The fake users db: alice / secret.
    const bool ok = arg == "ok" || (arg == "check" && a->user == "alice" && a->password.view() == "secret");
    session_->on_auth_result(ok, fixed_now());
  } else if (verb == "store") {
    auto a = take_action<action::StoreMessage>();
    if (!a) return fail("expected a StoreMessage action");
    if (arg == "ok") {
      ++stored_;
      envelope_ = open_envelope_;
      std::string msg = std::exchange(open_bytes_, {});
      message_lines_.clear();
      for (auto& l : split_crlf(msg)) message_lines_.push_back(std::move(l));
      if (!msg.empty()) message_lines_.push_back(msg + "<no CRLF>");
    }
    session_->on_store_result(arg == "ok", arg == "ok" ? "" : "disk full", fixed_now());
  } else if (verb == "tls") {
    if (!take_action<action::StartTls>()) return fail("expected a StartTls action");
    session_->on_tls_established(TlsInfo{"TLSv1.3", "TLS_AES_256_GCM_SHA384"});
  } else if (verb == "starttls-pending") {  // the adapter has not finished the handshake
    if (!take_action<action::StartTls>()) return fail("expected a StartTls action");
  } else if (verb == "closed") {
    if (!take_action<action::Close>()) return fail("expected a Close action");
    if (!session_->closed()) return fail("session not closed");
  } else if (verb == "timeout") {
    const Timeout want = arg == "data"              ? Timeout::data
                         : arg == "unauthenticated" ? Timeout::unauthenticated
                                                    : Timeout::command;
    if (session_->current_timeout() != want) {
      return fail("current_timeout is " + std::string(to_string(session_->current_timeout())) + ", not " + arg);
    }
    session_->on_timeout(want);
  } else if (verb == "discarded") {
    if (std::to_string(discarded_) != arg) return fail("discarded " + std::to_string(discarded_) + " messages, expected " + arg);
  } else if (verb == "messages") {
    if (std::to_string(stored_) != arg) return fail("stored " + std::to_string(stored_) + " messages, expected " + arg);
  } else if (verb == "waiting") {
    if (!session_->waiting()) return fail("session not waiting");
  } else {
    return fail("unknown marker " + verb);
  }
  collect();
}

}  // namespace

std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    if (c == 'r') out += '\r';
    else if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'x' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else out += c;
  }
  return out;
}

TranscriptResult play_transcript(const std::string& text, FeedMode mode) { return Player(mode).run(text); }

}  // namespace postern::smtp::test
