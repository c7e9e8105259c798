// Kernel-facing helpers for the daemon's local control socket (`postern status`): a listening
// unix stream socket created with a restrictive mode from the first instant, and the peer's
// credentials as the kernel reports them (SO_PEERCRED, unix(7)).
// Contract: bind_unix_listener() is setup-time (root, before the privilege drop) and throws
// std::system_error naming the path; peer_credentials() and connect_unix() return errors as
// values. Nothing here speaks a protocol: the fds are handed to Asio by the caller.
#pragma once

#include "platform/unique_fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <system_error>

namespace postern::platform {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Creates the parent directory if missing (mode 0755: the socket's own mode is what protects
// it), replaces a stale socket file (one nobody answers on), binds with umask so the socket is
// never more open than `mode`, chmods it to exactly `mode` and listens. Throws when the path
// exists and is not a socket, or when another process still answers on it (a second daemon
// with the same status_socket).
UniqueFd bind_unix_listener(const std::filesystem::path& path, mode_t mode, int backlog = 16);

// The file a listener was bound to, by device and inode, so that only that file is removed at
// exit (not a socket a newer daemon has bound at the same path since).
struct SocketFile {
  std::filesystem::path path;
  dev_t device = 0;
  ino_t inode = 0;
};
// Right after bind_unix_listener(); throws std::system_error naming the path.
SocketFile socket_file_of(const std::filesystem::path& path);
// Unlinks file.path if it is still that file: true when removed or already gone; false with ec
// when it could not be (EACCES: the directory is not writable after the privilege drop).
bool remove_socket_file(const SocketFile& file, std::error_code& ec);

// The credentials of the process at the other end of a connected unix socket.
std::optional<PeerCredentials> peer_credentials(int fd, std::error_code& ec);

// A blocking connected unix stream socket; an empty UniqueFd and ec on failure (ENOENT: no
// daemon; EACCES: the socket's mode refuses us; ECONNREFUSED: stale socket).
UniqueFd connect_unix(const std::filesystem::path& path, std::error_code& ec);

}  // namespace postern::platform
