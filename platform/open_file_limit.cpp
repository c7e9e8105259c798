// RLIMIT_NOFILE (see open_file_limit.hpp).
#include "platform/open_file_limit.hpp"

#include "platform/sys_error.hpp"

namespace postern::platform {

OpenFileLimit raise_open_file_limit() {
  OpenFileLimit out;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = last_error();
    return out;
  }
  out.before = out.after = limit.rlim_cur;
  if (limit.rlim_cur >= limit.rlim_max) return out;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = last_error();
    return out;
  }
  out.after = limit.rlim_cur;
  return out;
}

}  // namespace postern::platform
