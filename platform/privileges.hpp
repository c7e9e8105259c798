// Privilege drop for the daemon: after the root-only setup (TUN, routes, binding ports) the
// process becomes an unprivileged user that keeps only the named capabilities
// (typically net_admin, to change routes when the tunnel renegotiates).
// Contract: drop_privileges() is setup-time, all or nothing: it throws std::system_error naming
// the step that failed, and before returning it re-reads the process identity and throws if
// anything is not exactly as requested (uid/gid/groups, capability sets, no_new_privs,
// regaining root impossible). Capability sets are per thread on Linux, so it must run while the
// process has a single thread; it checks /proc/self/task and refuses otherwise.
// Implemented with the raw capget/capset system calls (no libcap dependency).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace postern::platform {

enum class Capability {
  net_admin,         // CAP_NET_ADMIN: routes, addresses, SO_MARK, *BUFFORCE
  net_bind_service,  // CAP_NET_BIND_SERVICE: ports < 1024 (SMTP submission 587 is one)
  net_raw,           // CAP_NET_RAW
};
std::string_view to_string(Capability capability);
// Accepts "net_admin" or "CAP_NET_ADMIN" (any case).
std::optional<Capability> capability_from_string(std::string_view text);
// The kernel capability number (CAP_NET_ADMIN...).
int capability_number(Capability capability);
// Bit mask (1 << number) of a list.
std::uint64_t capability_mask(std::span<const Capability> capabilities);

struct ProcessIdentity {
  uid_t real_uid = 0, effective_uid = 0, saved_uid = 0;
  gid_t real_gid = 0, effective_gid = 0, saved_gid = 0;
  std::vector<gid_t> supplementary_groups;
  std::uint64_t cap_effective = 0, cap_permitted = 0, cap_inheritable = 0;
  std::uint64_t cap_bounding = 0;  // bit set for every capability still in the bounding set
  bool no_new_privs = false;
  int threads = 0;                 // entries in /proc/self/task

  bool has_effective(Capability capability) const;
  // "uid=65534/65534/65534 gid=... groups=... caps_eff=0x1000 ..." for logs and test failures.
  std::string to_string() const;
};

// Reads the calling thread's identity. Throws std::system_error only if capget fails.
ProcessIdentity current_identity();

struct PrivilegeDrop {
  std::string user;                 // name (or numeric uid) to become
  std::string group;                // "" = the user's primary group
  std::vector<Capability> keep;     // capabilities kept in effective and permitted sets
  // Groups kept beside `group` (names or numeric gids), e.g. the IMAP server's group for the
  // Maildir ([smtp] maildir_group). Nothing else of the user's /etc/group memberships is kept.
  std::vector<std::string> supplementary_groups;
};

// Who the process becomes after drop_privileges(drop): uid, primary gid, and every group
// (primary first, then the supplementary ones). Throws std::system_error for an unknown user or
// group, as drop_privileges() would.
struct RunAsIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};
RunAsIdentity resolve_run_as(const PrivilegeDrop& drop);

// setgroups, setresgid, setresuid with PR_SET_KEEPCAPS, capset to exactly `keep`, drop the
// bounding and ambient sets to match, PR_SET_NO_NEW_PRIVS, then verify. Throws on any failure.
void drop_privileges(const PrivilegeDrop& drop);

}  // namespace postern::platform
