// users: Docker's rules for the `user` of a process, read from the container's own files.
//
// berth-init is static and makes no NSS calls (getpwnam and friends would load shared libraries
// and read the agent's files, not the container's), so it parses <root>/etc/passwd and
// <root>/etc/group itself. The rules are those of Docker (moby/sys/user GetExecUser), with one
// simplification documented in docs/guest-agent.md: supplementary groups are always the primary
// gid plus every group that lists the user's name as a member.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

/// One line of /etc/passwd.
struct passwd_entry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
  std::string shell;
};

/// One line of /etc/group.
struct group_entry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

/// Who a process runs as.
struct identity {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  ///< Supplementary groups, the primary gid first.
  std::string home = "/";        ///< Home directory from passwd, or "/".
};

/// Parses /etc/passwd text; malformed lines and comments are skipped.
std::vector<passwd_entry> parse_passwd(std::string_view text);

/// Parses /etc/group text; malformed lines and comments are skipped.
std::vector<group_entry> parse_group(std::string_view text);

/// Resolves `spec` ("", "name", "uid", "name:group", "uid:gid", ...) against the given entries.
/// Throws rpc::call_error(invalid_argument) for an unknown name or an out-of-range number.
identity resolve_user(std::string_view spec, const std::vector<passwd_entry>& passwd,
                      const std::vector<group_entry>& groups);

/// Resolves `spec` against <root>/etc/passwd and <root>/etc/group; missing files count as empty.
identity resolve_user_in(const std::string& root, std::string_view spec);

/// The whole content of `path`, or "" if it cannot be read.
std::string read_file(const std::string& path);

/// The whole content of `path` resolved inside `root` (symlinks cannot leave it), or "".
std::string read_file_in(const std::string& root, const std::string& path);

}  // namespace berth::agent
