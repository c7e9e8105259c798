// Readability for another user from stat(2) (see file_access.hpp).
#include "platform/file_access.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace postern::platform {
namespace {

std::string owner_text(const struct stat& st) {
  std::string user = std::to_string(st.st_uid), group = std::to_string(st.st_gid);
  if (const passwd* pw = ::getpwuid(st.st_uid)) user = pw->pw_name;
  if (const struct group* gr = ::getgrgid(st.st_gid)) group = gr->gr_name;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return user + ":" + group + " mode " + mode;
}

// The permission bits (of r=4, w=2, x=1) that apply to `who`: owner, else group, else other.
unsigned applicable_bits(const struct stat& st, const RunAsIdentity& who) {
  if (st.st_uid == who.uid) return (st.st_mode >> 6) & 7U;
  if (std::find(who.groups.begin(), who.groups.end(), st.st_gid) != who.groups.end() || st.st_gid == who.gid) {
    return (st.st_mode >> 3) & 7U;
  }
  return st.st_mode & 7U;
}

}  // namespace

std::string why_unreadable(const std::filesystem::path& path, const RunAsIdentity& who) {
  const std::filesystem::path absolute = std::filesystem::absolute(path).lexically_normal();
  struct stat st {};
  if (::stat(absolute.c_str(), &st) != 0) return absolute.string() + ": " + std::strerror(errno);
  if (who.uid == 0) return {};
  std::filesystem::path dir;
  for (auto it = absolute.begin(); it != absolute.end(); ++it) {
    dir /= *it;
    if (dir == absolute) break;
    struct stat ds {};
    if (::stat(dir.c_str(), &ds) != 0) return dir.string() + ": " + std::strerror(errno);
    if ((applicable_bits(ds, who) & 1U) == 0) {
      return dir.string() + " is " + owner_text(ds) + " (no search permission)";
    }
  }
  if ((applicable_bits(st, who) & 4U) == 0) return absolute.string() + " is " + owner_text(st);
  return {};
}

}  // namespace postern::platform
