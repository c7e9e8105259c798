// Small POSIX file helpers for the spool and the Maildir delivery: the durability primitives
// (write everything, fsync a file, fsync a directory so a rename/link/creat in it survives a
// crash) with errors as std::error_code values, never exceptions.
// Contract: every function is blocking and must run on a worker thread, never on the network
// thread. Paths are absolute or relative to the process cwd; nothing here reads the clock.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace postern::smtp::spool::fs {

// The errno of the last failed call as an error_code.
std::error_code last_error();

// An owned file descriptor (closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// write(2) until every byte is written (retrying EINTR and short writes).
std::error_code write_all(int fd, std::string_view bytes);

// Mode and group of what a writer creates. `group` -1 keeps the process's own group; another
// group must be one of the process's groups (fchown by the owner needs no privilege then).
struct Ownership {
  unsigned mode = 0600;  // files; a directory gets the matching x bits (see directory_mode)
  int group = -1;
};
// 0600 -> 0700, 0640 -> 02750, 0660 -> 02770 (setgid so new entries keep the group).
unsigned directory_mode(const Ownership& own);

// Creates `path` exclusively (O_EXCL, exactly own.mode whatever the umask), writes the
// pieces, fsyncs and closes it.
std::error_code write_file_synced(const std::filesystem::path& path,
                                  std::initializer_list<std::string_view> pieces,
                                  const Ownership& own = {});

// fsync(2) on a directory: makes the names created, renamed or removed in it durable.
std::error_code sync_directory(const std::filesystem::path& dir);

// mkdir -p (each directory it creates gets directory_mode(own) and own.group), fsyncing each
// parent that gained an entry, so the new directories survive a crash before anything is
// linked into them.
std::error_code make_directories_synced(const std::filesystem::path& dir, const Ownership& own = {});

// Reads a whole file; a symbolic link is refused (ELOOP): the spool and the Maildir never hold one.
std::error_code read_file(const std::filesystem::path& path, std::string& out);

// Names of the regular entries of a directory (no "." / ".."), unsorted.
std::error_code list_directory(const std::filesystem::path& dir, std::vector<std::string>& out);

}  // namespace postern::smtp::spool::fs
