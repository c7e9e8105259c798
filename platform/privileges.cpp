// Privilege drop (see privileges.hpp). Order matters and follows capabilities(7):
//   1. PR_SET_KEEPCAPS so permitted capabilities survive the uid change,
//   2. drop the bounding set (needs CAP_SETPCAP, so while still root) and the ambient set,
//   3. setgroups, setresgid (need CAP_SETGID), then setresuid last (it loses CAP_SETGID),
//   4. capset effective = permitted = keep, inheritable = 0,
//   5. clear KEEPCAPS, set NO_NEW_PRIVS (no setuid binary or file capability can raise us),
//   6. re-read everything and compare with what was asked.
#include "platform/privileges.hpp"

#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <system_error>

#include "platform/sys_error.hpp"

namespace postern::platform {
namespace {

struct CapSets {
  std::uint64_t effective = 0, permitted = 0, inheritable = 0;
};

CapSets read_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) < 0) throw_errno("capget");
  auto join = [](std::uint32_t low, std::uint32_t high) {
    return (std::uint64_t{high} << 32) | low;
  };
  return {join(data[0].effective, data[1].effective), join(data[0].permitted, data[1].permitted),
          join(data[0].inheritable, data[1].inheritable)};
}

void write_caps(const CapSets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  for (int i = 0; i < 2; ++i) {
    const int shift = 32 * i;
    data[i].effective = static_cast<std::uint32_t>(sets.effective >> shift);
    data[i].permitted = static_cast<std::uint32_t>(sets.permitted >> shift);
    data[i].inheritable = static_cast<std::uint32_t>(sets.inheritable >> shift);
  }
  if (::syscall(SYS_capset, &header, data) < 0) throw_errno("capset");
}

int last_capability() {
  std::ifstream file("/proc/sys/kernel/cap_last_cap");
  int value = CAP_LAST_CAP;
  if (file >> value && value >= 0 && value < 64) return value;
  return CAP_LAST_CAP;
}

int count_threads() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

std::optional<unsigned> parse_id(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

using Target = RunAsIdentity;  // groups as setgroups(2) gets them: gid first, then the others

gid_t resolve_group(const std::string& name, std::vector<char>& buffer) {
  group gr{};
  group* gr_result = nullptr;
  ::getgrnam_r(name.c_str(), &gr, buffer.data(), buffer.size(), &gr_result);
  if (gr_result != nullptr) return gr.gr_gid;
  if (auto id = parse_id(name)) return *id;
  throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                          "drop privileges: unknown group '" + name + "'");
}

Target resolve_identity(const PrivilegeDrop& drop) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* pw_result = nullptr;
  const std::string user(drop.user);
  ::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &pw_result);
  Target target{};
  if (pw_result != nullptr) {
    target = {pw.pw_uid, pw.pw_gid, {}};
  } else if (auto id = parse_id(user); id && !drop.group.empty()) {
    target = {*id, 0, {}};  // a bare uid has no primary group: the group below is required
  } else {
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            "drop privileges: unknown user '" + user + "'" +
                                (id ? " (a numeric uid needs an explicit group)" : ""));
  }
  if (!drop.group.empty()) target.gid = resolve_group(drop.group, buffer);
  target.groups = {target.gid};
  for (const std::string& name : drop.supplementary_groups) {
    const gid_t gid = resolve_group(name, buffer);
    if (std::find(target.groups.begin(), target.groups.end(), gid) == target.groups.end()) target.groups.push_back(gid);
  }
  return target;
}

void drop_bounding_set(std::uint64_t keep) {
  const int last = last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    if ((keep >> cap) & 1U) continue;
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0) continue;  // already gone
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      throw_errno("PR_CAPBSET_DROP cap " + std::to_string(cap));
    }
  }
  // Ambient capabilities would survive execve; we keep none.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    throw_errno("PR_CAP_AMBIENT_CLEAR_ALL");
  }
}

void fail_verification(const std::string& what, const ProcessIdentity& now) {
  throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                          "drop privileges: verification failed (" + what + "): " +
                              now.to_string());
}

void verify(const Target& target, std::uint64_t keep) {
  const ProcessIdentity now = current_identity();
  if (now.real_uid != target.uid || now.effective_uid != target.uid ||
      now.saved_uid != target.uid) {
    fail_verification("uid", now);
  }
  if (now.real_gid != target.gid || now.effective_gid != target.gid ||
      now.saved_gid != target.gid) {
    fail_verification("gid", now);
  }
  std::vector<gid_t> have = now.supplementary_groups, want = target.groups;
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  if (have != want) fail_verification("groups", now);
  if (now.cap_effective != keep || now.cap_permitted != keep || now.cap_inheritable != 0 ||
      (now.cap_bounding & ~keep) != 0) {
    fail_verification("capabilities", now);
  }
  if (!now.no_new_privs) fail_verification("no_new_privs", now);
  // The real test: getting root back must be impossible.
  if (target.uid != 0 && ::setuid(0) == 0) fail_verification("setuid(0) succeeded", now);
}

}  // namespace

RunAsIdentity resolve_run_as(const PrivilegeDrop& drop) { return resolve_identity(drop); }

std::string_view to_string(Capability capability) {
  switch (capability) {
    case Capability::net_admin: return "net_admin";
    case Capability::net_bind_service: return "net_bind_service";
    case Capability::net_raw: return "net_raw";
  }
  return "?";
}

std::optional<Capability> capability_from_string(std::string_view text) {
  std::string lower;
  for (const char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.starts_with("cap_")) lower.erase(0, 4);
  for (const auto cap : {Capability::net_admin, Capability::net_bind_service, Capability::net_raw}) {
    if (lower == to_string(cap)) return cap;
  }
  return std::nullopt;
}

int capability_number(Capability capability) {
  switch (capability) {
    case Capability::net_admin: return CAP_NET_ADMIN;
    case Capability::net_bind_service: return CAP_NET_BIND_SERVICE;
    case Capability::net_raw: return CAP_NET_RAW;
  }
  return -1;
}

std::uint64_t capability_mask(std::span<const Capability> capabilities) {
  std::uint64_t mask = 0;
  for (const auto cap : capabilities) mask |= std::uint64_t{1} << capability_number(cap);
  return mask;
}

bool ProcessIdentity::has_effective(Capability capability) const {
  return ((cap_effective >> capability_number(capability)) & 1U) != 0;
}

std::string ProcessIdentity::to_string() const {
  auto hex = [](std::uint64_t v) {
    char buffer[24] = {};
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), v, 16);
    return "0x" + std::string(buffer, result.ptr);
  };
  std::string groups;
  for (const gid_t g : supplementary_groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  return "uid=" + std::to_string(real_uid) + "/" + std::to_string(effective_uid) + "/" +
         std::to_string(saved_uid) + " gid=" + std::to_string(real_gid) + "/" +
         std::to_string(effective_gid) + "/" + std::to_string(saved_gid) + " groups=" + groups +
         " caps_eff=" + hex(cap_effective) + " caps_prm=" + hex(cap_permitted) +
         " caps_inh=" + hex(cap_inheritable) + " caps_bnd=" + hex(cap_bounding) +
         " no_new_privs=" + (no_new_privs ? "1" : "0") + " threads=" + std::to_string(threads);
}

ProcessIdentity current_identity() {
  ProcessIdentity id;
  ::getresuid(&id.real_uid, &id.effective_uid, &id.saved_uid);
  ::getresgid(&id.real_gid, &id.effective_gid, &id.saved_gid);
  const int count = ::getgroups(0, nullptr);
  if (count > 0) {
    id.supplementary_groups.resize(static_cast<std::size_t>(count));
    const int got = ::getgroups(count, id.supplementary_groups.data());
    id.supplementary_groups.resize(static_cast<std::size_t>(got > 0 ? got : 0));
  }
  const CapSets sets = read_caps();
  id.cap_effective = sets.effective;
  id.cap_permitted = sets.permitted;
  id.cap_inheritable = sets.inheritable;
  const int last = last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0) id.cap_bounding |= std::uint64_t{1} << cap;
  }
  id.no_new_privs = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
  id.threads = count_threads();
  return id;
}

void drop_privileges(const PrivilegeDrop& drop) {
  const int threads = count_threads();
  if (threads != 1) {
    throw std::system_error(std::make_error_code(std::errc::operation_not_permitted),
                            "drop privileges: process has " + std::to_string(threads) +
                                " threads; capabilities are per thread, drop before starting any");
  }
  const Target target = resolve_identity(drop);
  const std::uint64_t keep = capability_mask(drop.keep);

  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) throw_errno("PR_SET_KEEPCAPS 1");
  drop_bounding_set(keep);
  if (::setgroups(target.groups.size(), target.groups.data()) < 0) {
    throw_errno("setgroups " + std::to_string(target.gid));
  }
  if (::setresgid(target.gid, target.gid, target.gid) < 0) {
    throw_errno("setresgid " + std::to_string(target.gid));
  }
  if (::setresuid(target.uid, target.uid, target.uid) < 0) {
    throw_errno("setresuid " + std::to_string(target.uid));
  }
  write_caps({keep, keep, 0});
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) throw_errno("PR_SET_KEEPCAPS 0");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) throw_errno("PR_SET_NO_NEW_PRIVS");
  verify(target, keep);
}

}  // namespace postern::platform
