// Whether another user could read a file: the checks open(2) would make for the run-as user
// (search permission on every directory above it, read permission on the file, by owner, group
// or other class), from stat(2) alone, so that root can tell before the privilege drop (and
// `postern check-config` can tell at all) that the daemon will fail to re-read a file at SIGHUP.
// Contract: no side effects; ACLs and capabilities are not considered (the daemon keeps none
// that bypass file modes: see privileges.hpp).
#pragma once

#include "platform/privileges.hpp"

#include <filesystem>
#include <string>

namespace postern::platform {

// "" when `who` may read `path`; else why not, in words: "/etc/postern/users.db is root:root
// mode 0600", "/etc/postern is root:root mode 0700 (no search permission)", "no such file".
std::string why_unreadable(const std::filesystem::path& path, const RunAsIdentity& who);

}  // namespace postern::platform
