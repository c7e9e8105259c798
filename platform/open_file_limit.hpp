// The process's descriptor limit (RLIMIT_NOFILE). Every control connection, SMTP session and
// spool file holds one; the common soft default of 1024 is reached by a modest flood long before
// the memory is, so the daemons raise the soft limit to the hard one at start (systemd's default
// hard limit is 524288). Contract: setup-time; errors are returned, nothing throws.
#pragma once

#include <sys/resource.h>

#include <system_error>

namespace postern::platform {

struct OpenFileLimit {
  rlim_t before = 0;  // soft limit found
  rlim_t after = 0;   // soft limit now (== before when nothing changed)
  std::error_code error;
};

OpenFileLimit raise_open_file_limit();

}  // namespace postern::platform
