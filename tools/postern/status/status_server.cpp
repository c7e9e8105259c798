// The status socket server (see status_server.hpp).
#include "tools/postern/status/status_server.hpp"

#include "common/log.hpp"
#include "platform/unix_socket.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <unistd.h>

namespace postern::cli::status {
namespace {

using namespace asio::experimental::awaitable_operators;
using Local = asio::local::stream_protocol;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr auto kRequestTimeout = std::chrono::seconds(2);
constexpr mode_t kSocketMode = 0600;

}  // namespace

StatusServer::StatusServer(asio::io_context& io, std::filesystem::path path, Snapshot snapshot)
    : io_(io), path_(std::move(path)), snapshot_(std::move(snapshot)), acceptor_(io),
      alive_(std::make_shared<bool>(true)) {
  platform::UniqueFd fd = platform::bind_unix_listener(path_, kSocketMode);
  file_ = platform::socket_file_of(path_);
  acceptor_.assign(Local(), fd.release());
  log::info("status", "", "listening", {{"path", path_.string()}, {"mode", "0600"}});
}

StatusServer::~StatusServer() {
  *alive_ = false;
  stop();
}

void StatusServer::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void StatusServer::stop() {
  if (!acceptor_.is_open()) return;
  asio::error_code ignored;
  acceptor_.close(ignored);
  std::error_code ec;
  if (!platform::remove_socket_file(file_, ec)) {
    log::info("status", "", "socket_left_in_place",
              {{"path", path_.string()}, {"error", ec.message()}, {"effect", "replaced at the next start"}});
  }
}

asio::awaitable<void> StatusServer::accept_loop() {
  auto alive = alive_;
  while (*alive && acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (!*alive || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: pause instead of spinning the daemon's one I/O thread on the error.
      log::warn("status", "", "accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

std::string StatusServer::check_peer(Local::socket& socket) {
  std::error_code ec;
  auto peer = platform::peer_credentials(socket.native_handle(), ec);
  if (!peer) return "cannot read the peer's credentials: " + ec.message();
  if (peer->uid == 0 || peer->uid == ::geteuid()) return "";
  log::warn("status", "", "request_refused",
            {{"uid", static_cast<unsigned long>(peer->uid)}, {"pid", static_cast<long>(peer->pid)}});
  return "permission denied: uid " + std::to_string(peer->uid) +
         " may not read the daemon status (root or the daemon's own user only)";
}

asio::awaitable<void> StatusServer::serve(Local::socket socket) {
  auto alive = alive_;
  std::string reply;
  std::string refused = check_peer(socket);
  if (!refused.empty()) {
    reply = "error: " + refused + "\n";
  } else {
    std::string line;
    asio::steady_timer timer(io_, kRequestTimeout);
    auto result = co_await (asio::async_read_until(socket, asio::dynamic_buffer(line, kMaxRequest), '\n', use_nothrow) ||
                            timer.async_wait(use_nothrow));
    if (result.index() == 1 || std::get<0>(std::get<0>(result))) co_return;  // timeout, EOF or overlong
    if (!*alive) co_return;
    const Request request = decode_request(line);
    if (const auto* report = std::get_if<ReportRequest>(&request)) {
      reply = report->format == Format::json ? format_json(snapshot_()) : format_text(snapshot_());
    } else if (const auto* bad = std::get_if<BadRequest>(&request)) {
      reply = "error: " + bad->error + "\n";
    } else if (command_) {
      reply = command_(std::get<QueueRequest>(request));
    } else {
      reply = "error: this daemon has no mail queue (no [smtp] section)\n";
    }
  }
  asio::steady_timer timer(io_, kRequestTimeout);
  co_await (asio::async_write(socket, asio::buffer(reply), use_nothrow) || timer.async_wait(use_nothrow));
  asio::error_code ignored;
  socket.shutdown(Local::socket::shutdown_both, ignored);
}

}  // namespace postern::cli::status
