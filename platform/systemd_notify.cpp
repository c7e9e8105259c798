// sd_notify wrappers (see systemd_notify.hpp). libsystemd does the socket work (abstract
// namespace addresses, SCM_CREDENTIALS); this file only keeps its error codes out of callers.
#include "platform/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>

namespace postern::platform::systemd {

bool notify_enabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && *socket != '\0';
}

bool notify(std::string_view state) {
  if (!notify_enabled()) return false;
  const std::string text(state);
  return ::sd_notify(0, text.c_str()) > 0;
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

std::string monotonic_usec_assignment() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  return "MONOTONIC_USEC=" + std::to_string(usec);
}

std::string status_assignment(std::string_view text) {
  std::string out = "STATUS=";
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  return out;
}

}  // namespace postern::platform::systemd
