// The file backend for pushed DNS: /etc/resolv.conf rewritten while the tunnel is up, its
// original put back byte for byte (content, mode, owner) on exit, or at the next start when a
// crashed run left its backup behind.
// Contract:
//   * apply() first records the original in `backup` (written to a temporary file, fsynced,
//     renamed: the backup is whole or absent), then writes the new text. While the backup file
//     exists it, not /etc/resolv.conf, is the original: a second apply() (after a reconnect)
//     only rewrites the text.
//   * A symlink (resolvconf's or systemd's /run/... file) is recorded as the link itself and
//     replaced by a regular file; restore() puts the symlink back, never writes through it.
//     A missing /etc/resolv.conf is recorded as missing and removed again on restore.
//   * Writes go to a temporary file beside the target and are renamed over it, so readers
//     never see half a file; where the target is a mount point (a container's or
//     `ip netns exec`'s bind-mounted resolv.conf: statx says STATX_ATTR_MOUNT_ROOT, or
//     rename() fails with EBUSY) the file is rewritten in place instead.
//   * restore() deletes the backup only after the original is back; it is a no-op without a
//     backup, so "restore if a backup exists" is also the crash recovery.
// Needs write access to the directories of both paths: it runs in the root helper
// (resolver_helper.hpp). Errors are std::error_code plus a message naming the step.
#pragma once

#include "platform/resolver.hpp"

#include <filesystem>
#include <string>
#include <system_error>

namespace postern::platform {

class ResolvConfFile {
 public:
  ResolvConfFile(std::filesystem::path target, std::filesystem::path backup)
      : target_(std::move(target)), backup_(std::move(backup)) {}

  std::error_code apply(const DnsSettings& settings, std::string& error);
  std::error_code restore(std::string& error);
  bool has_backup() const;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& backup() const { return backup_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path backup_;
};

}  // namespace postern::platform
