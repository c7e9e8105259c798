// The resolv.conf file backend (see resolv_conf_file.hpp).
#include "platform/resolv_conf_file.hpp"

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace postern::platform {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kMagic = "postern-resolv-backup 1 ";
constexpr std::size_t kMaxFile = 1 << 20;  // a resolv.conf is a few hundred bytes

struct Original {
  enum class Kind { file, symlink, missing } kind = Kind::missing;
  std::string content;  // file content or symlink target
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::error_code fail(std::string& error, std::string what, const fs::path& path) {
  std::error_code ec = last_error();
  error = what + " " + path.string() + ": " + ec.message();
  return ec;
}

std::error_code read_fd(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    if (n == 0) return {};
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxFile) return std::make_error_code(std::errc::file_too_large);
  }
}

std::error_code write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error();
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::error_code read_original(const fs::path& path, Original& o, std::string& error) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      o.kind = Original::Kind::missing;
      return {};
    }
    return fail(error, "cannot stat", path);
  }
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof(target));
    if (n < 0 || static_cast<std::size_t>(n) >= sizeof(target)) return fail(error, "cannot read the link", path);
    o.kind = Original::Kind::symlink;
    o.content.assign(target, static_cast<std::size_t>(n));
    return {};
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail(error, "cannot open", path);
  if (::fstat(fd.get(), &st) != 0) return fail(error, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    error = path.string() + " is neither a regular file nor a symlink";
    return std::make_error_code(std::errc::invalid_argument);
  }
  o.kind = Original::Kind::file;
  o.mode = st.st_mode & 07777;
  o.uid = st.st_uid;
  o.gid = st.st_gid;
  if (auto ec = read_fd(fd.get(), o.content)) {
    error = "cannot read " + path.string() + ": " + ec.message();
    return ec;
  }
  return {};
}

std::string encode_backup(const Original& o) {
  std::ostringstream head;
  head << kMagic;
  switch (o.kind) {
    case Original::Kind::file: head << "file " << std::oct << o.mode << std::dec << ' ' << o.uid << ' ' << o.gid; break;
    case Original::Kind::symlink: head << "symlink"; break;
    case Original::Kind::missing: head << "missing"; break;
  }
  return head.str() + "\n" + o.content;
}

bool decode_backup(std::string_view text, Original& o) {
  auto nl = text.find('\n');
  if (nl == std::string_view::npos || !text.starts_with(kMagic)) return false;
  std::istringstream head(std::string(text.substr(kMagic.size(), nl - kMagic.size())));
  std::string kind;
  head >> kind;
  o.content.assign(text.substr(nl + 1));
  if (kind == "symlink") o.kind = Original::Kind::symlink;
  else if (kind == "missing") o.kind = Original::Kind::missing;
  else if (kind == "file") {
    unsigned mode = 0;
    head >> std::oct >> mode >> std::dec >> o.uid >> o.gid;
    if (!head) return false;
    o.kind = Original::Kind::file;
    o.mode = static_cast<mode_t>(mode & 07777);
  } else {
    return false;
  }
  return true;
}

std::error_code sync_directory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return last_error();
  return {};
}

// A unique temporary name beside `path` (mkstemp), already open for writing.
UniqueFd make_temp_beside(const fs::path& path, std::string& temp) {
  temp = (path.parent_path() / ("." + path.filename().string() + ".postern-XXXXXX")).string();
  return UniqueFd(::mkstemp(temp.data()));
}

// Writes `content` to `path` through a renamed temporary file; where `path` is a mount point
// (EBUSY) and `in_place_ok`, rewrites it in place instead.
std::error_code write_in_place(const fs::path& path, std::string_view content, std::string& error) {
  UniqueFd target(::open(path.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC));
  if (!target) return fail(error, "cannot rewrite (a mount point)", path);
  if (auto wec = write_all(target.get(), content); wec || ::fsync(target.get()) != 0) {
    return fail(error, "cannot rewrite", path);
  }
  return {};
}

// True when `path` is itself mounted (a bind-mounted file): rename() onto it would fail.
bool is_mount_root(const fs::path& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, 0, &stx) != 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

std::error_code write_file(const fs::path& path, std::string_view content, mode_t mode, uid_t uid, gid_t gid,
                           bool in_place_ok, std::string& error) {
  if (in_place_ok && is_mount_root(path)) return write_in_place(path, content, error);
  std::string temp;
  UniqueFd fd = make_temp_beside(path, temp);
  if (!fd) return fail(error, "cannot create a temporary file beside", path);
  std::error_code ec = write_all(fd.get(), content);
  // chown only when the owner differs: the packaged unit's seccomp filter denies @chown, and
  // the usual case (root's file, written by the root helper) needs none.
  bool chown_needed = uid != ::geteuid() || gid != ::getegid();
  if (!ec && (::fchmod(fd.get(), mode) != 0 || (chown_needed && ::fchown(fd.get(), uid, gid) != 0) ||
              ::fsync(fd.get()) != 0)) {
    ec = last_error();
  }
  fd.reset();
  if (ec) {
    ::unlink(temp.c_str());
    error = "cannot write " + temp + ": " + ec.message();
    return ec;
  }
  if (::rename(temp.c_str(), path.c_str()) == 0) {
    sync_directory(path.parent_path());
    return {};
  }
  int rename_errno = errno;
  ::unlink(temp.c_str());
  errno = rename_errno;
  if (rename_errno != EBUSY || !in_place_ok) return fail(error, "cannot replace", path);
  return write_in_place(path, content, error);
}

std::error_code put_back(const fs::path& path, const Original& o, std::string& error) {
  switch (o.kind) {
    case Original::Kind::file:
      return write_file(path, o.content, o.mode, o.uid, o.gid, true, error);
    case Original::Kind::missing:
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(error, "cannot remove", path);
      return {};
    case Original::Kind::symlink: {
      std::string temp;
      if (UniqueFd fd = make_temp_beside(path, temp); !fd) return fail(error, "cannot create a temporary file beside", path);
      ::unlink(temp.c_str());  // only the unique name was wanted
      if (::symlink(o.content.c_str(), temp.c_str()) != 0) return fail(error, "cannot create the link", temp);
      if (::rename(temp.c_str(), path.c_str()) != 0) {
        auto ec = fail(error, "cannot put the link back at", path);
        ::unlink(temp.c_str());
        return ec;
      }
      sync_directory(path.parent_path());
      return {};
    }
  }
  return {};
}

std::error_code read_backup(const fs::path& path, Original& o, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail(error, "cannot open the backup", path);
  std::string text;
  if (auto ec = read_fd(fd.get(), text)) {
    error = "cannot read the backup " + path.string() + ": " + ec.message();
    return ec;
  }
  if (!decode_backup(text, o)) {
    error = "the backup " + path.string() + " is not a postern backup (left as it is)";
    return std::make_error_code(std::errc::invalid_argument);
  }
  return {};
}

}  // namespace

bool ResolvConfFile::has_backup() const {
  struct stat st {};
  return ::lstat(backup_.c_str(), &st) == 0;
}

std::error_code ResolvConfFile::apply(const DnsSettings& settings, std::string& error) {
  Original original;
  if (has_backup()) {
    if (auto ec = read_backup(backup_, original, error)) return ec;
  } else {
    if (auto ec = read_original(target_, original, error)) return ec;
    std::error_code dec;
    fs::create_directories(backup_.parent_path(), dec);
    if (auto ec = write_file(backup_, encode_backup(original), 0600, ::geteuid(), ::getegid(), false, error)) return ec;
  }
  // The options lines are kept from what the host had (through a symlink: the file it names).
  std::string options_source = original.content;
  if (original.kind == Original::Kind::symlink) {
    options_source.clear();
    if (UniqueFd fd(::open(target_.c_str(), O_RDONLY | O_CLOEXEC)); fd) read_fd(fd.get(), options_source);
  }
  if (original.kind == Original::Kind::missing) options_source.clear();
  mode_t mode = original.kind == Original::Kind::file ? original.mode : 0644;
  uid_t uid = original.kind == Original::Kind::file ? original.uid : 0;
  gid_t gid = original.kind == Original::Kind::file ? original.gid : 0;
  return write_file(target_, render_resolv_conf(settings, options_source), mode, uid, gid, true, error);
}

std::error_code ResolvConfFile::restore(std::string& error) {
  if (!has_backup()) return {};
  Original original;
  if (auto ec = read_backup(backup_, original, error)) return ec;
  if (auto ec = put_back(target_, original, error)) return ec;
  if (::unlink(backup_.c_str()) != 0) return fail(error, "cannot remove the backup", backup_);
  sync_directory(backup_.parent_path());
  return {};
}

}  // namespace postern::platform
