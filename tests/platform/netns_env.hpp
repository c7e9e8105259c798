// Test helper for the "netns" tests: moves the test process into a fresh network namespace
// (unshare(CLONE_NEWNET | CLONE_NEWNS), in-process, /sys remounted) on first use so nothing touches the host's interfaces,
// then brings up its loopback. Tests call POSTERN_REQUIRE_NETNS() first; without root (or
// without namespace support) they skip with the reason.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace postern::platform::test {

struct NetnsStatus {
  bool ready = false;
  std::string reason;
};

// Idempotent: the first call unshares; later calls return the same status.
const NetnsStatus& enter_private_netns();

// Output of a shell command (for reading `ip -j ...` in assertions).
std::string run_command(const std::string& command);

// Contents of /sys/class/net/<ifname>/<attribute> without the newline, "" if unreadable.
std::string read_sys_net(const std::string& ifname, const std::string& attribute);

}  // namespace postern::platform::test

#define POSTERN_REQUIRE_NETNS()                                                   \
  do {                                                                            \
    const auto& netns_status = ::postern::platform::test::enter_private_netns();  \
    if (!netns_status.ready) GTEST_SKIP() << netns_status.reason;                 \
  } while (false)
