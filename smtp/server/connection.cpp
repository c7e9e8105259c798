// One SMTP connection (see connection.hpp). Steps:
//   1. open_by_mode(): starttls -> greet now; tls -> wait up to greeting_delay for a byte:
//      0x16 means the handshake, other bytes or silence a client in the wrong mode (silence gets
//      a 554 that says so); auto -> wait up to greeting_delay for a byte: 0x16 means implicit
//      TLS, other bytes an early talker (554, close), silence a plaintext greeting with STARTTLS
//      offered.
//   2. serve(): read (session's timer) -> feed -> pump() until the session closes.
//   3. pump(): write take_output(), then perform each action; repeat while actions appear.
// Message bodies are streamed (docs/smtp.md): BeginMessage opens a spool::MessageWriter, each
// MessageData (at most one 64 KiB read, decoded) is appended, StoreMessage commits it. Every
// one of these is blocking file I/O, so each runs on the store pool while this coroutine waits;
// the socket is not read meanwhile, so TCP flow control holds the client back and a session
// never holds more than one read buffer and one decoded chunk, whatever the message size. A
// write error drops the file and the rest of the message; the end of the transfer gets 451.
// AUTH is throttled per client IP (ServiceState::auth_throttle): a locked-out source gets
// 454 4.7.0 (RFC 4954 6, temporary failure) without running scrypt and the connection is closed,
// because the session core has no temporary-failure verdict to continue with; each failure
// waits the throttle's growing delay (auth_failure_delay at least) before the 535.
// Timeouts use awaitable_operators (op || timer); all results are taken as values (as_tuple).
// Every co_await result is stored in a local before it is tested: g++ 12 miscompiles a
// co_await inside an if condition or an && operand (the frame resumes into ud2, SIGILL).
#include "smtp/server/connection.hpp"

#include "common/log.hpp"
#include "smtp/server/tls.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>

namespace postern::smtp::server {
namespace {

using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::string_view kLog = "smtp";
constexpr std::size_t kReadSize = 64 * 1024;

std::chrono::system_clock::time_point wall_now() { return std::chrono::system_clock::now(); }

// Runs `op`, or gives up after `limit`: nullopt means the timer won (op is cancelled).
template <typename T>
asio::awaitable<std::optional<T>> with_timeout(asio::awaitable<T> op,
                                               std::chrono::milliseconds limit) {
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  auto result = co_await (std::move(op) || timer.async_wait(use_nothrow));
  if (result.index() == 0) co_return std::get<0>(std::move(result));
  co_return std::nullopt;
}

// Runs blocking `work` on `pool` and resumes on the caller's executor. nullopt if it threw.
template <typename F>
asio::awaitable<std::optional<std::invoke_result_t<F&>>> run_on(asio::thread_pool& pool, F work) {
  using R = std::invoke_result_t<F&>;
  auto [error, value] = co_await asio::co_spawn(
      pool, [&work]() -> asio::awaitable<R> { co_return work(); }, use_nothrow);
  if (error) co_return std::nullopt;
  co_return std::move(value);
}

asio::ip::address normalized(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// A TCP socket that may be upgraded to TLS in place (implicit TLS or STARTTLS).
class Transport {
 public:
  explicit Transport(std::shared_ptr<tcp::socket> socket) : socket_(std::move(socket)) {}

  tcp::socket& socket() { return *socket_; }
  bool tls() const { return tls_.has_value(); }
  const SSL* native_tls() { return tls_ ? tls_->native_handle() : nullptr; }

  asio::awaitable<std::tuple<std::error_code, std::size_t>> read_some(asio::mutable_buffer b) {
    if (tls_) co_return co_await tls_->async_read_some(b, use_nothrow);
    co_return co_await socket_->async_read_some(b, use_nothrow);
  }
  asio::awaitable<std::tuple<std::error_code, std::size_t>> write(std::string_view bytes) {
    if (tls_) co_return co_await asio::async_write(*tls_, asio::buffer(bytes), use_nothrow);
    co_return co_await asio::async_write(*socket_, asio::buffer(bytes), use_nothrow);
  }
  asio::awaitable<std::tuple<std::error_code>> handshake(asio::ssl::context& ctx) {
    tls_.emplace(*socket_, ctx);
    co_return co_await tls_->async_handshake(asio::ssl::stream_base::server, use_nothrow);
  }
  // Waits until a byte is readable and peeks at it without consuming it.
  asio::awaitable<std::tuple<std::error_code, int>> peek_first_byte() {
    auto [ec] = co_await socket_->async_wait(tcp::socket::wait_read, use_nothrow);
    if (ec) co_return std::tuple{ec, -1};
    unsigned char byte = 0;
    std::size_t n = socket_->receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
    if (!ec && n == 0) ec = asio::error::eof;
    co_return std::tuple{ec, ec ? -1 : static_cast<int>(byte)};
  }
  void close() {
    std::error_code ignored;
    socket_->shutdown(tcp::socket::shutdown_both, ignored);
    socket_->close(ignored);
  }

 private:
  std::shared_ptr<tcp::socket> socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
};

class Connection {
 public:
  Connection(std::shared_ptr<ServiceState> state, std::shared_ptr<tcp::socket> socket,
             config::SmtpTlsMode mode, std::string id)
      : state_(std::move(state)), transport_(std::move(socket)), mode_(mode), id_(std::move(id)) {}

  asio::awaitable<void> run();

 private:
  asio::awaitable<bool> open_by_mode();
  asio::awaitable<bool> start_implicit_tls();
  asio::awaitable<bool> handshake();
  asio::awaitable<void> serve();
  asio::awaitable<bool> pump();
  asio::awaitable<bool> perform(Action& action);
  asio::awaitable<bool> verify_auth(action::VerifyAuth& auth);
  asio::awaitable<bool> refuse_busy(action::VerifyAuth& auth);
  asio::awaitable<bool> refuse_locked_out(action::VerifyAuth& auth,
                                          std::chrono::steady_clock::time_point until);
  std::chrono::milliseconds record_auth_result(bool ok);
  asio::awaitable<bool> begin_message(action::BeginMessage& begin);
  asio::awaitable<bool> append_message(action::MessageData& data);
  asio::awaitable<bool> store(action::StoreMessage& store);
  asio::awaitable<void> discard_message();
  void message_write_failed(std::string_view step, std::error_code ec);
  asio::awaitable<bool> write(std::string_view bytes);
  std::string take_output();  // the session's output, its replies counted by class
  void make_session();
  void wrong_mode(std::string_view what, std::string_view advice);
  bool fail(std::string reason) {
    if (reason_.empty()) reason_ = std::move(reason);
    return false;
  }

  std::shared_ptr<ServiceState> state_;
  Transport transport_;
  config::SmtpTlsMode mode_;
  std::string id_;
  std::optional<Session> session_;
  std::string reason_;
  std::string peer_ip_;  // the throttle's key ("192.0.2.7"; v4-mapped v6 normalised to v4)
  std::uint64_t bytes_fed_ = 0;
  spool::MessageWriter writer_;  // the message being received, open between Begin and Store
  std::error_code write_error_;  // the first failure of this message's file
};

void Connection::make_session() {
  std::error_code ignored;
  tcp::endpoint peer = transport_.socket().remote_endpoint(ignored);
  asio::ip::address address = normalized(peer.address());
  ClientInfo client;
  client.peer_ip = address.to_string();
  peer_ip_ = client.peer_ip;
  client.peer_port = peer.port();
  client.trusted = state_->is_trusted(address);
  if (state_->tunnel_user_of) client.tunnel_user = state_->tunnel_user_of(address);
  session_.emplace(state_->session_config(), std::move(client), id_,
                   [] { return random_hex(8); });
}

void Connection::wrong_mode(std::string_view what, std::string_view advice) {
  ++state_->counters.wrong_mode;
  log::warn(kLog, id_, "wrong_mode", {{"listener", to_string(mode_)}, {"what", what},
                                      {"advice", advice}});
  fail(std::string(what));
}

asio::awaitable<void> Connection::run() {
  make_session();
  const bool opened = co_await open_by_mode();
  if (opened) co_await serve();
  co_await discard_message();  // a transfer cut off: its tmp/ file goes
  transport_.close();
  log::info(kLog, id_, "disconnect",
            {{"reason", reason_.empty() ? "closed" : reason_}, {"bytes_in", bytes_fed_}});
}

asio::awaitable<bool> Connection::open_by_mode() {
  const auto& cfg = state_->cfg;
  if (mode_ == config::SmtpTlsMode::starttls) co_return true;
  if (mode_ == config::SmtpTlsMode::tls) co_return co_await start_implicit_tls();
  // auto: RFC 5321 4.3.1 has the server speak first, so a legitimate plaintext client is
  // silent until the greeting; a TLS client sends its ClientHello at once.
  auto first = co_await with_timeout(transport_.peek_first_byte(), cfg.greeting_delay);
  if (!first) co_return true;  // silence: plaintext greeting, STARTTLS offered
  auto [ec, byte] = *first;
  if (ec) co_return fail("closed before the greeting");
  if (looks_like_tls_record(static_cast<unsigned char>(byte))) co_return co_await handshake();
  ++state_->counters.early_talkers;
  log::warn(kLog, id_, "early_talker", {{"first_byte", byte}});
  co_await write("554 5.5.0 " + cfg.hostname + " Protocol error: talked before the greeting\r\n");
  co_return fail("early talker");
}

asio::awaitable<bool> Connection::start_implicit_tls() {
  const auto& cfg = state_->cfg;
  // A TLS client sends its ClientHello at once; one that stays silent for greeting_delay is
  // waiting for a plaintext 220 (a client set to STARTTLS or plain SMTP). Tell it in a reply its
  // user sees, instead of letting it time out while we time out too: the reply carries nothing
  // but this host name and the advice.
  auto first = co_await with_timeout(transport_.peek_first_byte(), cfg.greeting_delay);
  if (!first) {
    wrong_mode("client waits for a plaintext greeting on an implicit-TLS port",
               "set the client to SSL/TLS (implicit TLS, port 465), or give this listener mode "
               "auto, or connect it to a starttls listener (port 587)");
    co_await write("554 5.7.0 " + cfg.hostname +
                   " this port speaks implicit TLS from the first byte: set the client to "
                   "SSL/TLS, or use the STARTTLS port (587)\r\n");
    co_return false;
  }
  auto [ec, byte] = *first;
  if (ec) co_return fail("closed before the TLS handshake");
  if (!looks_like_tls_record(static_cast<unsigned char>(byte))) {
    wrong_mode("client spoke plaintext on an implicit-TLS port",
               "set the client to SSL/TLS (implicit TLS, port 465), or give this listener mode "
               "auto, or connect it to a starttls listener (port 587)");
    co_return false;
  }
  co_return co_await handshake();
}

asio::awaitable<bool> Connection::handshake() {
  auto result = co_await with_timeout(transport_.handshake(*state_->tls),
                                      state_->cfg.command_timeout);
  if (!result || std::get<0>(*result)) {
    ++state_->counters.tls_failures;
    std::string why = result ? std::get<0>(*result).message() : "timeout";
    log::warn(kLog, id_, "tls_failed", {{"reason", why}});
    co_return fail("TLS handshake failed: " + why);
  }
  ++state_->counters.tls_handshakes;
  NegotiatedTls tls = describe_tls(transport_.native_tls());
  if (session_->state() == State::created) {
    session_->set_tls_active(TlsInfo{tls.version, tls.cipher});
    log::info(kLog, id_, "tls", {{"version", tls.version}, {"cipher", tls.cipher},
                                 {"mode", "implicit"}});
  } else {
    session_->on_tls_established(TlsInfo{tls.version, tls.cipher});
  }
  co_return true;
}

asio::awaitable<void> Connection::serve() {
  session_->start(wall_now());
  const bool greeted = co_await pump();
  if (!greeted) co_return;
  std::array<char, kReadSize> buffer;
  while (!session_->closed()) {
    const Timeout which = session_->current_timeout();
    auto limit = which == Timeout::data            ? state_->cfg.data_timeout
                 : which == Timeout::unauthenticated ? std::min(state_->cfg.unauthenticated_timeout,
                                                                state_->cfg.command_timeout)
                                                     : state_->cfg.command_timeout;
    auto result = co_await with_timeout(transport_.read_some(asio::buffer(buffer)), limit);
    if (!result) {
      session_->on_timeout(which);
      fail(std::string(to_string(which)) + " timeout");
      co_await pump();
      co_return;
    }
    auto [ec, n] = *result;
    if (ec) {
      fail(ec == asio::error::eof ? "client closed the connection" : "read: " + ec.message());
      co_return;
    }
    if (bytes_fed_ == 0 && !transport_.tls() && n > 0 &&
        looks_like_tls_record(static_cast<unsigned char>(buffer[0]))) {
      wrong_mode("client started TLS on a STARTTLS port",
                 "set the client to STARTTLS, or give this listener mode auto or tls (port 465)");
      co_return;
    }
    bytes_fed_ += n;
    session_->feed(std::span<const char>(buffer.data(), n), wall_now());
    OPENSSL_cleanse(buffer.data(), n);  // it may have held an AUTH line (docs/security.md)
    const bool alive = co_await pump();
    if (!alive) co_return;
  }
}

asio::awaitable<bool> Connection::write(std::string_view bytes) {
  auto result = co_await with_timeout(transport_.write(bytes), state_->cfg.command_timeout);
  if (!result) co_return fail("write timeout");
  if (auto ec = std::get<0>(*result)) co_return fail("write: " + ec.message());
  co_return true;
}

std::string Connection::take_output() {
  const auto counts = session_->take_reply_counts();
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i]) state_->counters.replies_by_class[i].fetch_add(counts[i], std::memory_order_relaxed);
  }
  return session_->take_output();
}

asio::awaitable<bool> Connection::pump() {
  for (;;) {
    std::string output = take_output();
    if (!output.empty()) {
      const bool written = co_await write(output);
      if (!written) co_return false;
    }
    std::vector<Action> actions = session_->take_actions();
    if (actions.empty()) co_return !session_->closed();
    for (Action& action : actions) {
      const bool ok = co_await perform(action);
      if (!ok) co_return false;
    }
  }
}

asio::awaitable<bool> Connection::perform(Action& action) {
  if (std::holds_alternative<action::StartTls>(action)) {
    // The 220 was written by pump() before the actions; the session has already discarded
    // any plaintext pipelined after STARTTLS (RFC 3207 5, the injection attack).
    co_return co_await handshake();
  }
  if (auto* auth = std::get_if<action::VerifyAuth>(&action)) co_return co_await verify_auth(*auth);
  if (auto* begin = std::get_if<action::BeginMessage>(&action)) co_return co_await begin_message(*begin);
  if (auto* data = std::get_if<action::MessageData>(&action)) co_return co_await append_message(*data);
  if (auto* message = std::get_if<action::StoreMessage>(&action)) co_return co_await store(*message);
  if (std::holds_alternative<action::DiscardMessage>(action)) {
    co_await discard_message();
    co_return true;
  }
  if (auto* close = std::get_if<action::Close>(&action)) {
    std::string output = take_output();
    if (!output.empty()) co_await write(output);
    co_return fail(close->reason);
  }
  co_return true;
}

asio::awaitable<bool> Connection::verify_auth(action::VerifyAuth& auth) {
  // The attempt counts against the source's failure limit from here (reserve), so parallel
  // sessions from one source cannot run more guesses than the limit; the queue for the scrypt
  // threads is bounded in total, and a guess whose source got locked out meanwhile never runs.
  auth::AuthThrottle::Verdict verdict;
  bool queue_full = false;
  {
    std::lock_guard lock(state_->throttle_mutex);
    queue_full = state_->queued_verifications >= state_->cfg.max_queued_verifications;
    if (!queue_full) {
      verdict = state_->auth_throttle.reserve(peer_ip_, std::chrono::steady_clock::now());
      if (verdict.allowed) ++state_->queued_verifications;
    }
  }
  if (queue_full) co_return co_await refuse_busy(auth);
  if (!verdict.allowed) co_return co_await refuse_locked_out(auth, verdict.locked_until);
  const auth::PasswordBackend* passwords = state_->passwords.get();
  ServiceState* state = state_.get();
  const std::string source = peer_ip_;
  // Captures are pointers and references only: g++ 12 mishandles a coroutine parameter (the
  // lambda run_on takes by value) that owns a std::string.
  auto verified = co_await run_on(*state_->auth_pool, [passwords, state, &source, &auth]()
                                                          -> std::optional<auth::PasswordVerdict> {
    {
      std::lock_guard lock(state->throttle_mutex);
      --state->queued_verifications;
      if (state->auth_throttle.cancelled(source, std::chrono::steady_clock::now())) {
        state->auth_throttle.release(source);
        return std::nullopt;  // locked out while it waited: not run
      }
    }
    if (passwords == nullptr) return auth::PasswordVerdict::rejected("no password backend");
    return passwords->authenticate(auth::PasswordRequest{auth.user, auth.password, auth::PasswordService::smtp, source});
  });
  auth.password.wipe();
  if (!verified) {  // the pool never ran it (shutting down): give the reservation back
    std::lock_guard lock(state_->throttle_mutex);
    --state_->queued_verifications;
    state_->auth_throttle.release(source);
    co_return fail("authentication not run");
  }
  if (!verified->has_value()) co_return co_await refuse_locked_out(auth, std::chrono::steady_clock::now());
  const auth::PasswordVerdict& result = **verified;
  if (result.outcome == auth::PasswordOutcome::temporarily_failed) {
    // Nobody could check the password: not the client's failure, so no throttle delay.
    {
      std::lock_guard lock(state_->throttle_mutex);
      state_->auth_throttle.release(source);
      ++state_->counters.auth_failed;
    }
    log::error(kLog, id_, "auth_unavailable", {{"peer", peer_ip_}, {"user", auth.user},
                                              {"backend", passwords->kind()}, {"reason", result.reason}});
    session_->on_auth_unavailable(wall_now());
    co_return true;
  }
  const bool ok = result.outcome == auth::PasswordOutcome::accepted;
  if (!ok && passwords != nullptr) {
    log::info(kLog, id_, "auth_rejected", {{"peer", peer_ip_}, {"user", auth.user},
                                          {"backend", passwords->kind()}, {"reason", result.reason}});
  }
  const std::chrono::milliseconds delay = record_auth_result(ok);
  if (!ok) {
    // Slows password guessing; the session only answers after the delay.
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(use_nothrow);
  }
  session_->on_auth_result(ok, wall_now());
  co_return true;
}

// Counts the outcome and returns how long to hold back a failure reply.
std::chrono::milliseconds Connection::record_auth_result(bool ok) {
  if (ok) {  // an identity now: no longer shed to make room (smtp_service.cpp)
    std::lock_guard slots_lock(state_->mutex);
    if (auto it = state_->slots.find(&transport_.socket()); it != state_->slots.end()) it->second.identified = true;
  }
  std::lock_guard lock(state_->throttle_mutex);
  if (ok) {
    ++state_->counters.auth_ok;
    state_->auth_throttle.record_success(peer_ip_, std::chrono::steady_clock::now());
    return std::chrono::milliseconds(0);
  }
  ++state_->counters.auth_failed;
  const auto delay = state_->auth_throttle.record_failure(peer_ip_, std::chrono::steady_clock::now());
  log::info(kLog, id_, "auth_throttle", {{"peer", peer_ip_}, {"delay_ms", delay.count()}});
  return std::max(delay, state_->cfg.auth_failure_delay);
}

asio::awaitable<bool> Connection::refuse_busy(action::VerifyAuth& auth) {
  auth.password.wipe();
  ++state_->counters.auth_failed;
  log::warn(kLog, id_, "auth_busy", {{"peer", peer_ip_}, {"user", auth.user},
                                     {"queued", state_->cfg.max_queued_verifications}});
  co_await write("454 4.7.0 too many authentications in progress, try later\r\n");
  co_return fail("auth queue full");
}

asio::awaitable<bool> Connection::refuse_locked_out(action::VerifyAuth& auth,
                                                    std::chrono::steady_clock::time_point until) {
  auth.password.wipe();
  ++state_->counters.auth_failed;
  const auto left = std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(
                                                          until - std::chrono::steady_clock::now()));
  log::warn(kLog, id_, "auth_locked_out",
            {{"peer", peer_ip_}, {"user", auth.user}, {"retry_after_s", left.count() + 1}});
  co_await write("454 4.7.0 too many authentication failures, try later\r\n");
  co_return fail("auth locked out");
}

asio::awaitable<bool> Connection::begin_message(action::BeginMessage& begin) {
  co_await discard_message();  // never two files for one connection
  write_error_.clear();
  spool::Spool* spool = state_->spool.get();
  spool::MessageEnvelope envelope;
  envelope.sender = begin.envelope.mail_from;
  envelope.recipients = begin.envelope.recipients;
  for (const auto& dsn : begin.envelope.recipient_dsn) {
    envelope.recipient_params.push_back({dsn.notify, dsn.orcpt});
  }
  envelope.dsn_ret = begin.envelope.dsn_ret;
  envelope.dsn_envid = begin.envelope.dsn_envid;
  envelope.eight_bit = begin.envelope.eight_bit;
  envelope.smtputf8 = begin.envelope.smtputf8;
  // The transfer's start: the envelope header is written before the content arrives.
  envelope.queued_at = std::chrono::system_clock::now();
  spool::MessageWriter* writer = &writer_;
  auto opened = co_await run_on(*state_->store_pool, [spool, writer, &begin, &envelope] {
    return spool->begin(begin.queue_id, envelope, *writer);
  });
  const std::error_code ec = opened.value_or(std::make_error_code(std::errc::io_error));
  if (ec) message_write_failed("open", ec);
  co_return true;
}

asio::awaitable<bool> Connection::append_message(action::MessageData& data) {
  if (write_error_ || !writer_.is_open()) co_return true;  // failed already: read on, 451 at the end
  spool::MessageWriter* writer = &writer_;
  auto written = co_await run_on(*state_->store_pool, [writer, &data] { return writer->append(data.bytes); });
  const std::error_code ec = written.value_or(std::make_error_code(std::errc::io_error));
  if (ec) {
    message_write_failed("write", ec);
    co_await discard_message();
  }
  co_return true;
}

void Connection::message_write_failed(std::string_view step, std::error_code ec) {
  if (!write_error_) write_error_ = ec;
  log::error(kLog, id_, "spool_write_failed", {{"step", step}, {"error", ec.message()}});
}

asio::awaitable<void> Connection::discard_message() {
  if (!writer_.is_open()) co_return;
  spool::MessageWriter* writer = &writer_;
  co_await run_on(*state_->store_pool, [writer] {
    writer->discard();
    return true;
  });
  writer_.discard();  // the pool did not run it (shutting down)
}

asio::awaitable<bool> Connection::store(action::StoreMessage& message) {
  std::error_code ec = write_error_;
  if (!ec && !writer_.is_open()) ec = std::make_error_code(std::errc::bad_file_descriptor);
  const std::uint64_t size = writer_.size();
  if (!ec) {
    spool::MessageWriter* writer = &writer_;
    auto committed = co_await run_on(*state_->store_pool, [writer] { return writer->commit(); });
    ec = committed.value_or(std::make_error_code(std::errc::io_error));
  }
  co_await discard_message();  // after a failed commit: nothing is left anyway
  write_error_.clear();
  if (ec) {
    ++state_->counters.store_failures;
    log::error(kLog, id_, "spool_write_failed", {{"queue_id", message.queue_id}, {"error", ec.message()}});
  } else {
    ++state_->counters.messages_accepted;
    state_->counters.message_bytes += size;
    state_->runner->notify_new(message.queue_id, std::chrono::system_clock::now());
  }
  session_->on_store_result(!ec, ec ? ec.message() : message.queue_id, wall_now());
  co_return true;
}

}  // namespace

std::string too_many_connections_reply(const std::string& hostname) {
  return "421 4.7.0 " + hostname + " Too many connections, try again later\r\n";
}

asio::awaitable<void> run_connection(std::shared_ptr<ServiceState> state,
                                     std::shared_ptr<tcp::socket> socket,
                                     config::SmtpTlsMode mode, std::string session_id) {
  Connection connection(std::move(state), std::move(socket), mode, std::move(session_id));
  co_await connection.run();
}

}  // namespace postern::smtp::server
