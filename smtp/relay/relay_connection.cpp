// The relay connection's byte pump (see relay_connection.hpp).
#include "smtp/relay/relay_connection.hpp"

#include "common/certificate_names.hpp"

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <openssl/crypto.h>
#include <poll.h>

#include <utility>

#include "common/log.hpp"

namespace postern::smtp::relay {
namespace {

using asio::ip::tcp;
constexpr std::string_view kLog = "relay";
constexpr std::size_t kReadSize = 16 * 1024;

// Runs one async operation to completion on `io`, or cancels it after `limit`. `start` is
// called with the completion handler; `cancel` stops the operation. Returns the operation's
// error (asio::error::timed_out when the timer won).
template <typename Start, typename Cancel>
std::error_code run_with_timeout(asio::io_context& io, std::chrono::milliseconds limit, Start start, Cancel cancel) {
  bool done = false, timer_done = false, timed_out = false;
  std::error_code result;
  asio::steady_timer timer(io, limit);
  timer.async_wait([&](std::error_code ec) {
    timer_done = true;
    if (!ec && !done) {
      timed_out = true;
      cancel();
    }
  });
  start([&](std::error_code ec) {
    done = true;
    result = ec;
    timer.cancel();
  });
  io.restart();
  while (!done || !timer_done) io.run_one();
  return timed_out ? asio::error::timed_out : result;
}

}  // namespace

RelayConnection::RelayConnection(asio::io_context& io, asio::ssl::context* tls_context, bool verify,
                                 RelayTimeouts timeouts, std::string id)
    : io_(io), tls_context_(tls_context), verify_(verify), timeouts_(timeouts), id_(std::move(id)),
      socket_(io), read_buffer_(kReadSize) {}

RelayConnection::~RelayConnection() { close_socket(); }

std::string RelayConnection::open(const tcp::endpoint& address, const std::string& tls_name, ClientConfig config) {
  tls_name_ = tls_name;
  std::error_code ec = run_with_timeout(
      io_, timeouts_.connect, [&](auto handler) { socket_.async_connect(address, handler); },
      [&] { socket_.close(); });
  if (ec) {
    close_socket();
    return ec == asio::error::timed_out ? "connect timeout" : "connect failed: " + ec.message();
  }
  closed_ = false;
  socket_.set_option(tcp::no_delay(true), ec);
  session_ = std::make_unique<ClientSession>(std::move(config), id_);
  pump_until([this] { return session_->ready(); });
  if (session_->ready()) return {};
  if (failure_.empty()) failure_ = "connection closed before the relay was ready";
  close_socket();
  return failure_;
}

std::vector<RecipientOutcome> RelayConnection::send(const OutgoingMessage& message) {
  done_.reset();
  if (!session_ || !session_->submit(message)) {
    RecipientOutcome o;
    o.text = "relay connection not ready";
    return std::vector<RecipientOutcome>(message.recipients.size(), o);
  }
  pump_until([this] { return done_.has_value(); });
  if (done_) return std::move(*done_);
  RecipientOutcome o;  // unreachable: a closed session always reports the message in flight
  o.text = failure_.empty() ? "connection lost" : failure_;
  return std::vector<RecipientOutcome>(message.recipients.size(), o);
}

void RelayConnection::quit() {
  if (closed_ || !session_) return close_socket();
  session_->quit();
  pump_until([] { return false; });
  close_socket();
}

bool RelayConnection::usable() {
  if (closed_ || !session_ || !session_->ready()) return false;
  // An idle relay that closed the connection (or sent a 421) makes the socket readable.
  pollfd p{socket_.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) return false;
  return true;
}

template <typename Done>
void RelayConnection::pump_until(Done done) {
  while (!closed_) {
    // Actions can produce output (after the handshake the session sends EHLO): write until quiet.
    for (bool acted = true; acted && !closed_;) {
      if (!flush_output()) session_->on_closed();
      std::vector<ClientAction> actions = session_->take_actions();
      acted = !actions.empty();
      for (ClientAction& a : actions) perform(a);
    }
    if (closed_ || done()) return;
    if (session_->current_timeout() == ClientTimeout::idle) return;  // no reply is awaited
    read_once();
  }
}

bool RelayConnection::flush_output() {
  const bool secret = session_->output_has_secret();
  std::string out = session_->take_output();
  if (out.empty() || closed_) return true;
  const auto limit = limit_for(session_->current_timeout() == ClientTimeout::final ? ClientTimeout::data
                                                                                   : ClientTimeout::command);
  std::error_code ec = run_with_timeout(
      io_, limit,
      [&](auto handler) {
        auto h = [handler](std::error_code e, std::size_t) mutable { handler(e); };
        if (tls_) asio::async_write(*tls_, asio::buffer(out), h);
        else asio::async_write(socket_, asio::buffer(out), h);
      },
      [&] { socket_.cancel(); });
  if (secret) OPENSSL_cleanse(out.data(), out.size());
  if (ec) log::warn(kLog, id_, "write_failed", {{"error", ec.message()}});
  return !ec;
}

void RelayConnection::read_once() {
  std::size_t got = 0;
  const ClientTimeout kind = session_->current_timeout();
  std::error_code ec = run_with_timeout(
      io_, limit_for(kind),
      [&](auto handler) {
        auto h = [handler, &got](std::error_code e, std::size_t n) mutable {
          got = n;
          handler(e);
        };
        if (tls_) tls_->async_read_some(asio::buffer(read_buffer_), h);
        else socket_.async_read_some(asio::buffer(read_buffer_), h);
      },
      [&] { socket_.cancel(); });
  if (got > 0) session_->feed(std::string_view(read_buffer_.data(), got));
  if (ec == asio::error::timed_out) {
    log::warn(kLog, id_, "timeout", {{"which", to_string(kind)}, {"state", to_string(session_->state())}});
    session_->on_timeout();
  } else if (ec) {
    session_->on_closed();
  }
}

void RelayConnection::perform(ClientAction& action) {
  if (std::holds_alternative<client_action::StartTls>(action)) return start_tls();
  if (auto* done = std::get_if<client_action::MessageDone>(&action)) {
    done_ = std::move(done->recipients);
    return;
  }
  if (auto* failed = std::get_if<client_action::ConnectionFailed>(&action)) {
    failure_ = failed->reason;
    return;
  }
  if (std::holds_alternative<client_action::Close>(action)) {
    flush_output();
    close_socket();
  }
}

void RelayConnection::start_tls() {
  if (tls_context_ == nullptr) return session_->on_tls_failed("TLS is not configured");
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_context_);
  if (!prepare_peer_check(tls_->native_handle(), tls_name_, verify_)) {
    return session_->on_tls_failed("cannot set the name to check: " + tls_name_);
  }
  std::string leaf_names;
  if (verify_) {
    tls_->set_verify_callback([&leaf_names](bool preverified, asio::ssl::verify_context& ctx) {
      X509_STORE_CTX* store = ctx.native_handle();
      X509* cert = X509_STORE_CTX_get_current_cert(store);
      if (X509_STORE_CTX_get_error_depth(store) == 0 && cert != nullptr) leaf_names = certificate_names(cert);
      return preverified;
    });
  }
  std::error_code ec = run_with_timeout(
      io_, timeouts_.command,
      [&](auto handler) { tls_->async_handshake(asio::ssl::stream_base::client, handler); },
      [&] { socket_.cancel(); });
  if (ec) {
    std::string reason = ec == asio::error::timed_out
                             ? "handshake timeout"
                             : handshake_failure(tls_->native_handle(), tls_name_, leaf_names, ec.message());
    tls_.reset();  // the stream is unusable; close the TCP connection without a TLS shutdown
    return session_->on_tls_failed(reason);
  }
  tls_summary_ = describe_tls(tls_->native_handle(), verify_);
  log::info(kLog, id_, "tls", {{"version", tls_summary_.version}, {"cipher", tls_summary_.cipher},
                               {"verified", tls_summary_.verified ? "yes" : "no"}, {"name", tls_name_}});
  session_->on_tls_established();
}

std::chrono::milliseconds RelayConnection::limit_for(ClientTimeout kind) const {
  switch (kind) {
    case ClientTimeout::data: return timeouts_.data;
    case ClientTimeout::final: return timeouts_.final;
    default: return timeouts_.command;
  }
}

void RelayConnection::close_socket() {
  closed_ = true;
  tls_.reset();
  std::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace postern::smtp::relay
