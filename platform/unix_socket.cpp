// Unix socket helpers (see unix_socket.hpp).
#include "platform/unix_socket.hpp"

#include "platform/sys_error.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <stdexcept>

namespace postern::platform {
namespace {

// sockaddr_un for path; false when the path does not fit sun_path (108 bytes incl. NUL).
bool make_address(const std::filesystem::path& path, sockaddr_un& address) {
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  const std::string& text = path.native();
  if (text.empty() || text.size() >= sizeof(address.sun_path)) return false;
  std::memcpy(address.sun_path, text.data(), text.size());
  return true;
}

// Removes `path` if it is a socket nobody listens on; throws if something else lives there.
void remove_stale_socket(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(path.string() + " exists and is not a socket; refusing to replace it");
  }
  std::error_code ec;
  UniqueFd probe = connect_unix(path, ec);
  if (probe) throw std::runtime_error(path.string() + ": another process answers on this status socket");
  if (::unlink(path.c_str()) != 0) throw_errno("remove stale socket " + path.string());
}

}  // namespace

UniqueFd bind_unix_listener(const std::filesystem::path& path, mode_t mode, int backlog) {
  sockaddr_un address{};
  if (!make_address(path, address)) {
    throw std::runtime_error("status socket path is empty or longer than 107 bytes: " + path.string());
  }
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw std::system_error(ec, "create directory " + path.parent_path().string());
  }
  remove_stale_socket(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket(AF_UNIX)");
  // bind(2) creates the file with the umask applied: no window in which it is more open than
  // `mode`. The process is single-threaded at setup, so changing the umask briefly is safe.
  mode_t old_mask = ::umask(static_cast<mode_t>(~mode & 0777));
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) {
    errno = bind_errno;
    throw_errno("bind " + path.string());
  }
  if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod " + path.string());
  if (::listen(fd.get(), backlog) != 0) throw_errno("listen " + path.string());
  return fd;
}

SocketFile socket_file_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) throw_errno("stat " + path.string());
  return SocketFile{path, st.st_dev, st.st_ino};
}

bool remove_socket_file(const SocketFile& file, std::error_code& ec) {
  ec.clear();
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) != 0) return true;  // already gone
  if (st.st_dev != file.device || st.st_ino != file.inode) return true;  // not ours any more
  if (::unlink(file.path.c_str()) != 0) {
    ec = last_error();
    return false;
  }
  return true;
}

std::optional<PeerCredentials> peer_credentials(int fd, std::error_code& ec) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
    ec = last_error();
    return std::nullopt;
  }
  ec.clear();
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

UniqueFd connect_unix(const std::filesystem::path& path, std::error_code& ec) {
  sockaddr_un address{};
  if (!make_address(path, address)) {
    ec = std::make_error_code(std::errc::filename_too_long);
    return {};
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    ec = last_error();
    return {};
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ec = last_error();
    return {};
  }
  ec.clear();
  return fd;
}

}  // namespace postern::platform
