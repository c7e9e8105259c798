// The control connection byte pump (see control_stream.hpp).
#include "tunnel/daemon/control_stream.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <openssl/crypto.h>

namespace postern::tunnel::daemon {
namespace {
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
}

ControlStream::ControlStream(TlsStream stream)
    : stream_(std::move(stream)),
      timer_(stream_.get_executor()),
      write_signal_(stream_.get_executor(), asio::steady_timer::time_point::max()),
      close_timer_(stream_.get_executor()) {}

void ControlStream::start(Driver driver) {
  driver_ = std::move(driver);
  auto self = shared_from_this();
  asio::co_spawn(stream_.get_executor(), [self] { return self->read_loop(); }, asio::detached);
  asio::co_spawn(stream_.get_executor(), [self] { return self->timer_loop(); }, asio::detached);
  asio::co_spawn(stream_.get_executor(), [self] { return self->write_loop(); }, asio::detached);
}

void ControlStream::send(std::span<const std::uint8_t> bytes) {
  if (closing_) return;
  if (outgoing_.size() + bytes.size() > kMaxQueued) {
    // The peer has not read 4 MiB of replies: it is gone or hostile. Nothing more is queued.
    finish("peer is not reading: over " + std::to_string(kMaxQueued / (1024 * 1024)) + " MiB of control output queued");
    return;
  }
  outgoing_.insert(outgoing_.end(), bytes.begin(), bytes.end());
  write_signal_.cancel();
}

void ControlStream::close(std::string reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = std::move(reason);
  write_signal_.cancel();
  timer_.cancel();
  // A write to a peer that does not read never completes: give the flush kCloseFlush.
  close_timer_.expires_after(kCloseFlush);
  close_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) self->finish(self->close_reason_ + " (the peer did not take the last output)");
  });
}

void ControlStream::rearm_timer() { timer_.cancel(); }

asio::awaitable<void> ControlStream::read_loop() {
  std::vector<std::uint8_t> buffer(16 * 1024);
  while (!finished_) {
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), kAsTuple);
    if (finished_) break;
    if (ec) {
      std::string reason = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                               ? "peer closed the connection"
                               : "read: " + ec.message();
      finish(closing_ ? close_reason_ : reason);
      break;
    }
    if (!closing_) driver_.on_bytes(std::span(buffer.data(), n), std::chrono::steady_clock::now());
    OPENSSL_cleanse(buffer.data(), n);  // it may have held a HELLO's password (docs/security.md)
    timer_.cancel();  // the deadline may have moved
  }
}

asio::awaitable<void> ControlStream::timer_loop() {
  while (!finished_ && !closing_) {
    auto deadline = driver_.next_deadline ? driver_.next_deadline() : std::nullopt;
    timer_.expires_at(deadline ? *deadline : SteadyTime::max());
    auto [ec] = co_await timer_.async_wait(kAsTuple);
    if (finished_ || closing_) break;
    auto now = std::chrono::steady_clock::now();
    if (!ec || (deadline && now >= *deadline)) driver_.on_timer(now);
  }
}

asio::awaitable<void> ControlStream::write_loop() {
  std::vector<std::uint8_t> writing;
  while (!finished_) {
    if (outgoing_.empty()) {
      if (closing_) break;
      co_await write_signal_.async_wait(kAsTuple);
      continue;
    }
    writing.swap(outgoing_);
    outgoing_.clear();
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(writing), kAsTuple);
    writing.clear();
    if (ec) {
      finish("write: " + ec.message());
      co_return;
    }
    if (!closing_ && !backlogged() && driver_.on_writable) driver_.on_writable();
  }
  // Everything queued before close() is flushed (the negotiator's TERMINATE tells the peer
  // why). No TLS close_notify exchange: it would race the pending read on the same stream.
  finish(close_reason_);
}

void ControlStream::finish(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  closing_ = true;
  asio::error_code ignored;
  stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
  timer_.cancel();
  write_signal_.cancel();
  close_timer_.cancel();
  if (driver_.on_closed) driver_.on_closed(reason);
}

}  // namespace postern::tunnel::daemon
