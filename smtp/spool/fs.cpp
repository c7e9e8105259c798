// POSIX durability helpers (see fs.hpp). Everything returns std::error_code built from errno.
#include "smtp/spool/fs.hpp"

#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace postern::smtp::spool::fs {

std::error_code last_error() { return {errno, std::system_category()}; }

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

std::error_code write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

unsigned directory_mode(const Ownership& own) {
  unsigned mode = 0700;
  if (own.mode & 0040) mode |= 0050;
  if (own.mode & 0020) mode |= 0020;
  if (own.group >= 0 && (own.mode & 0060)) mode |= 02000;
  return mode;
}

namespace {

std::error_code apply_ownership(int fd, unsigned mode, const Ownership& own) {
  if (own.group >= 0 && ::fchown(fd, static_cast<uid_t>(-1), static_cast<gid_t>(own.group)) != 0) return last_error();
  // After the chown: changing the group clears the setgid bit.
  if (::fchmod(fd, mode) != 0) return last_error();
  return {};
}

}  // namespace

std::error_code write_file_synced(const std::filesystem::path& path,
                                  std::initializer_list<std::string_view> pieces, const Ownership& own) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return last_error();
  if (own.mode != 0600 || own.group >= 0) {
    if (auto ec = apply_ownership(fd.get(), own.mode, own)) return ec;
  }
  for (std::string_view piece : pieces) {
    if (auto ec = write_all(fd.get(), piece)) return ec;
  }
  // fdatasync is enough: the size is part of the data that it flushes, and the name is made
  // durable by the caller's directory fsync after the rename.
  if (::fdatasync(fd.get()) != 0) return last_error();
  if (::close(fd.release()) != 0) return last_error();
  return {};
}

std::error_code sync_directory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return last_error();
  if (::fsync(fd.get()) != 0) return last_error();
  return {};
}

std::error_code make_directories_synced(const std::filesystem::path& dir, const Ownership& own) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? std::error_code{} : std::make_error_code(std::errc::not_a_directory);
  }
  std::filesystem::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto ec = make_directories_synced(parent, own)) return ec;
  }
  const bool made = ::mkdir(dir.c_str(), 0700) == 0;
  if (!made && errno != EEXIST) return last_error();
  // EEXIST: made by a concurrent writer (with the same ownership); its parent fsync may not
  // have finished yet, so sync anyway.
  if (made && (own.mode != 0600 || own.group >= 0)) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) return last_error();
    if (auto ec = apply_ownership(fd.get(), directory_mode(own), own)) return ec;
  }
  return sync_directory(parent.empty() ? std::filesystem::path(".") : parent);
}

std::error_code read_file(const std::filesystem::path& path, std::string& out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return last_error();
  out.clear();
  // One allocation of the right size: a 35 MiB message read by doubling would peak at 3x.
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return {};
}

std::error_code list_directory(const std::filesystem::path& dir, std::vector<std::string>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return last_error();
  out.clear();
  while (dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    out.emplace_back(name);
  }
  ::closedir(d);
  return {};
}

}  // namespace postern::smtp::spool::fs
