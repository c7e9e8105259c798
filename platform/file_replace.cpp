// Atomic file replacement (see file_replace.hpp).
#include "platform/file_replace.hpp"

#include "platform/sys_error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace postern::platform {

std::optional<FileOwnership> ownership_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileOwnership{st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)};
}

FileOwnership own_ownership(mode_t mode) { return {::geteuid(), ::getegid(), mode}; }

void replace_file(const std::filesystem::path& path, std::string_view data, const FileOwnership& ownership) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmp = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());  // 0600, ours
  if (fd < 0) throw_errno(tmp + ": cannot create");
  auto fail = [&](const std::string& step) {
    const int saved = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    errno = saved;
    throw_errno(path.string() + ": " + step);
  };
  const bool ours = ownership.uid == ::geteuid() && ownership.gid == ::getegid();
  if (!ours && ::fchown(fd, ownership.uid, ownership.gid) != 0 && errno != EPERM) fail("fchown");
  if (::fchmod(fd, ownership.mode) != 0) fail("fchmod");
  for (std::size_t off = 0; off < data.size();) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    throw_errno(path.string() + ": close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    throw_errno(path.string() + ": rename");
  }
  // Make the rename itself durable.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace postern::platform
