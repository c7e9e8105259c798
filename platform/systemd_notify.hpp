// The service manager's notify protocol (sd_notify(3), sd_watchdog_enabled(3) from libsystemd):
// how the daemon tells systemd it is ready, reloading, stopping, what it is doing (STATUS=) and
// that its event loop is alive (WATCHDOG=1).
// Contract: every function is a no-op (returning false / nullopt) when NOTIFY_SOCKET is unset,
// so the daemon runs the same by hand, under another supervisor and in tests. Failures to send
// are returned, never thrown: the service manager going away must not stop the daemon. The
// environment is left in place (a reload or a re-exec still finds the socket).
// Thread-safe (sd_notify opens a fresh datagram socket per call); call it from the event loop
// when the message is about the loop, as WATCHDOG=1 is.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace postern::platform::systemd {

// NOTIFY_SOCKET is set: someone listens to our notifications.
bool notify_enabled();

// Sends newline-separated assignments ("READY=1\nSTATUS=3 sessions"). True when sent.
bool notify(std::string_view state);

// The watchdog interval the manager expects pings within (WATCHDOG_USEC, for this pid per
// WATCHDOG_PID); nullopt when no watchdog is configured.
std::optional<std::chrono::microseconds> watchdog_interval();

// "MONOTONIC_USEC=<CLOCK_MONOTONIC now in µs>", sent with RELOADING=1 (systemd 253+ requires it
// for Type=notify-reload; older managers ignore it).
std::string monotonic_usec_assignment();

// The STATUS= value made safe for one line: newlines become spaces.
std::string status_assignment(std::string_view text);

}  // namespace postern::platform::systemd
