// Implementation of the private-namespace test helper (see netns_env.hpp).
#include "tests/platform/netns_env.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "platform/netlink.hpp"

namespace postern::platform::test {

const NetnsStatus& enter_private_netns() {
  static const NetnsStatus status = [] {
    NetnsStatus result;
    if (::geteuid() != 0) {
      result.reason = "needs root (unshare(CLONE_NEWNET), TUN, netlink); run as root or via ctest -L netns";
      return result;
    }
    // A mount namespace too: /sys/class/net shows the namespace of whoever mounted sysfs, so
    // like `ip netns exec` we remount /sys privately to see our own interfaces.
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
      result.reason = std::string("unshare(CLONE_NEWNET|CLONE_NEWNS) failed: ") + std::strerror(errno);
      return result;
    }
    if (::mount("", "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0 ||
        ::umount2("/sys", MNT_DETACH) != 0 || ::mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0) {
      result.reason = std::string("remounting /sys in the new namespace failed: ") + std::strerror(errno);
      return result;
    }
    auto netlink = Netlink::open();
    if (auto ec = netlink.link_up("lo")) {
      result.reason = "bringing up lo in the new namespace failed: " + ec.message();
      return result;
    }
    result.ready = true;
    return result;
  }();
  return status;
}

std::string run_command(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

std::string read_sys_net(const std::string& ifname, const std::string& attribute) {
  std::ifstream file("/sys/class/net/" + ifname + "/" + attribute);
  std::string value;
  std::getline(file, value);
  return value;
}

}  // namespace postern::platform::test
