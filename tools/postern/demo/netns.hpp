// Network namespaces and veth links for `postern demo`, done by running iproute2's `ip` (the
// demo is an orchestrator; the daemons themselves use netlink in platform/). Named namespaces
// live in /run/netns/NAME, which is also how a leftover from `demo --keep` is recognised.
// Contract: functions that change something throw DemoError-style std::runtime_error with the
// command's own words; queries never throw.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace postern::cli::demo {

bool namespace_exists(const std::string& name);

// `ip netns add NAME` and brings its loopback up.
void add_namespace(const std::string& name);

// Kills every process still inside (SIGTERM, then SIGKILL) and deletes the namespace; the veth
// end inside goes with it, which removes its peer too. Quiet when it does not exist.
void delete_namespace(const std::string& name);

std::vector<pid_t> namespace_pids(const std::string& name);

struct VethEnd {
  std::string ns;
  std::string ifname;
  std::string cidr;  // "10.99.0.1/24"
};

// A veth pair with one end in each namespace, addressed and up.
void add_veth(const VethEnd& a, const VethEnd& b);

// The first IPv4 address on `ifname` inside `ns`, without the prefix length.
std::optional<std::string> interface_ipv4(const std::string& ns, const std::string& ifname);

// `ip netns exec NS argv...`: argv prefixed for running inside the namespace.
std::vector<std::string> in_namespace(const std::string& ns, std::vector<std::string> argv);

}  // namespace postern::cli::demo
