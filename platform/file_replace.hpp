// Rewriting a file that a daemon re-reads (the users file, the CRL, certificates): the new
// content goes to a temporary file beside it, gets its owner and mode, is fsynced and renamed
// over the old one, and the directory is fsynced, so a reader never sees half a file and a crash
// leaves the old or the new one. Only root may give a file away: anyone else keeps their own
// ownership (EPERM from fchown is not an error). Contract: setup-time CLI code (`postern user`,
// `postern pki`); errors throw std::system_error naming the path and the step.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string_view>

namespace postern::platform {

struct FileOwnership {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0600;  // permission bits
};

// The owner, group and permission bits of `path`; nullopt when it does not exist.
std::optional<FileOwnership> ownership_of(const std::filesystem::path& path);
// This process's effective uid and gid, with `mode`: what a new file of ours gets.
FileOwnership own_ownership(mode_t mode);

void replace_file(const std::filesystem::path& path, std::string_view data, const FileOwnership& ownership);

}  // namespace postern::platform
