// The byte pump between a TLS stream and a control negotiator (server or client side). It is
// the only code that reads or writes the control connection:
//   reader  : async_read_some -> Driver::on_bytes(bytes, now)
//   timer   : sleeps until Driver::next_deadline() -> Driver::on_timer(now)
//   writer  : the single coroutine that writes; send() queues bytes and wakes it, so writes
//             never interleave even though the reader, the timer and other threads' posts all
//             produce output.
// Everything runs on one executor (the daemon's io_context thread); Driver callbacks may call
// send() and close(). close() flushes queued bytes, closes the socket and ends all three loops.
// Output is bounded: a peer that stops reading while the queue passes kMaxQueued (echo replies,
// fallback data frames) is disconnected ("peer is not reading"); producers that can wait (the
// TLS fallback's frame queue) look at backlogged() and resume on Driver::on_writable. The flush
// at close() is bounded too: a peer that has not taken the last bytes within kCloseFlush (it
// stopped reading, e.g. the dead peer being closed) is cut off, so its socket is not held open
// by a write that never completes.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace postern::tunnel::daemon {

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;
using SteadyTime = std::chrono::steady_clock::time_point;

class ControlStream : public std::enable_shared_from_this<ControlStream> {
 public:
  struct Driver {
    std::function<void(std::span<const std::uint8_t>, SteadyTime)> on_bytes;
    std::function<void(SteadyTime)> on_timer;
    std::function<std::optional<SteadyTime>()> next_deadline;
    // Called once when the stream has ended (peer closed, error, or after close()).
    std::function<void(const std::string& reason)> on_closed;
    // Called when a write completed and the queue is below kBacklog again (may be empty).
    std::function<void()> on_writable;
  };

  static constexpr std::size_t kMaxQueued = 4 * 1024 * 1024;  // then the peer is disconnected
  static constexpr std::size_t kBacklog = 256 * 1024;         // producers that can wait stop here
  static constexpr std::chrono::seconds kCloseFlush{2};         // then close() stops flushing

  explicit ControlStream(TlsStream stream);

  TlsStream& stream() { return stream_; }
  SSL* ssl() { return stream_.native_handle(); }

  // Starts the reader, timer and writer loops. The stream must have completed its handshake.
  void start(Driver driver);
  void send(std::span<const std::uint8_t> bytes);
  // Graceful: flush what is queued (for at most kCloseFlush), close the socket.
  void close(std::string reason);
  // Re-evaluates next_deadline() (call after changing the driver's state from outside a callback).
  void rearm_timer();
  bool closed() const { return closing_; }
  // Bytes queued and not yet handed to the socket are past kBacklog.
  bool backlogged() const { return outgoing_.size() >= kBacklog; }

 private:
  asio::awaitable<void> read_loop();
  asio::awaitable<void> timer_loop();
  asio::awaitable<void> write_loop();
  void finish(const std::string& reason);

  TlsStream stream_;
  Driver driver_;
  asio::steady_timer timer_;
  asio::steady_timer write_signal_;
  asio::steady_timer close_timer_;
  std::vector<std::uint8_t> outgoing_;
  bool closing_ = false;
  bool finished_ = false;
  std::string close_reason_;
};

}  // namespace postern::tunnel::daemon
