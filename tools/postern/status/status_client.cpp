// Status socket client (see status_client.hpp). Blocking I/O with SO_RCVTIMEO/SO_SNDTIMEO: a
// one-shot command has nothing else to do while it waits.
#include "tools/postern/status/status_client.hpp"

#include "platform/unix_socket.hpp"
#include "tools/postern/status/status_protocol.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <system_error>

namespace postern::cli::status {
namespace {

std::string connect_error(const std::filesystem::path& path, const std::error_code& ec) {
  const std::string where = path.string();
  if (ec == std::errc::no_such_file_or_directory) {
    return "no daemon is listening at " + where + " (is `postern server` or `postern client` running with this config?)";
  }
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
    return where + " is root-only (mode 0600): run `postern status` as root";
  }
  if (ec == std::errc::connection_refused) {
    return "nobody answers at " + where + " (a stale socket: the daemon is not running)";
  }
  return "cannot connect to " + where + ": " + ec.message();
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

StatusAnswer request_status(const std::filesystem::path& socket_path, bool json, std::chrono::milliseconds timeout) {
  return request_line(socket_path, encode_request(ReportRequest{json ? Format::json : Format::text}), timeout);
}

bool no_daemon(const std::filesystem::path& socket_path) {
  std::error_code ec;
  platform::UniqueFd fd = platform::connect_unix(socket_path, ec);
  return !fd && (ec == std::errc::no_such_file_or_directory || ec == std::errc::connection_refused);
}

StatusAnswer request_line(const std::filesystem::path& socket_path, const std::string& line,
                          std::chrono::milliseconds timeout) {
  std::error_code ec;
  platform::UniqueFd fd = platform::connect_unix(socket_path, ec);
  if (!fd) return {"", connect_error(socket_path, ec)};
  set_timeouts(fd.get(), timeout);
  const std::string request = line + "\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    // The daemon may refuse us before reading; its error line is still worth reading below.
    if (errno != EPIPE && errno != ECONNRESET) {
      return {"", "cannot send to " + socket_path.string() + ": " + std::error_code(errno, std::system_category()).message()};
    }
  }
  std::string body;
  std::array<char, 4096> buffer{};
  for (;;) {
    ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {"", "the daemon did not answer in time at " + socket_path.string()};
      if (errno == ECONNRESET && !body.empty()) break;
      return {"", "reading " + socket_path.string() + ": " + std::error_code(errno, std::system_category()).message()};
    }
    body.append(buffer.data(), static_cast<std::size_t>(n));
  }
  if (body.empty()) return {"", "the daemon closed " + socket_path.string() + " without an answer"};
  Answer answer = decode_answer(std::move(body));
  if (answer.refused()) return {"", "the daemon refused: " + answer.error};
  return {std::move(answer.body), ""};
}

}  // namespace postern::cli::status
