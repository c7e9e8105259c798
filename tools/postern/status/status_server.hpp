// The daemon's local control socket for `postern status`: a unix stream socket, mode 0600 and
// owned by root (created before the privilege drop), served by one coroutine per connection on
// the daemon's single io_context thread.
// Protocol (one exchange per connection, the lines in status_protocol.hpp): the client writes
// one line, "json\n" or "text\n"; the daemon answers with the report in that form and closes.
// Queue requests ("queue list json", "queue hold <id>"..., `postern queue`) go to the optional
// command handler, which answers a body or "error: ...\n". Anything else, or a peer whose
// SO_PEERCRED uid is neither 0 nor the daemon's own, gets one "error: ...\n" line and the close.
// A client that sends nothing is dropped after 2 s, so a stuck client cannot pile up.
// Contract: the constructor is setup-time and throws (naming the path); serving never throws.
#pragma once

#include "platform/unix_socket.hpp"

#include "tools/postern/status/status_protocol.hpp"
#include "tools/postern/status/status_report.hpp"

#include <asio.hpp>

#include <filesystem>
#include <functional>
#include <memory>

namespace postern::cli::status {

class StatusServer {
 public:
  // Called on the io thread for every authorised request.
  using Snapshot = std::function<StatusReport()>;
  // Called on the io thread for an authorised, well-formed queue request; returns the answer
  // (a body, or "error: ...\n").
  using Command = std::function<std::string(const QueueRequest& request)>;

  // Binds `path` (creating its directory, replacing a stale socket) with mode 0600.
  StatusServer(asio::io_context& io, std::filesystem::path path, Snapshot snapshot);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  void set_command_handler(Command command) { command_ = std::move(command); }
  void start();
  // Closes the listener and removes the socket file (when the directory lets the run-as user;
  // else it is left, and replaced at the next start); connections in flight finish their one
  // answer.
  void stop();
  const std::filesystem::path& path() const { return path_; }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);
  // "" when allowed, else the error line's text.
  std::string check_peer(asio::local::stream_protocol::socket& socket);

  asio::io_context& io_;
  std::filesystem::path path_;
  Snapshot snapshot_;
  Command command_;
  asio::local::stream_protocol::acceptor acceptor_;
  platform::SocketFile file_;
  std::shared_ptr<bool> alive_;  // coroutines still running after destruction check it
};

}  // namespace postern::cli::status
