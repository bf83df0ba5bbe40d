// jail: starting QEMU the way Firecracker's jailer starts Firecracker: as a uid and gid of its
// own, with no capabilities (or, for a VM with host shares, only the two that 9p needs), in new
// mount, PID, IPC and UTS namespaces (and a network namespace when it needs no host network),
// chrooted (pivot_root) into a tmpfs that holds only what QEMU reads by path, and in a cgroup
// with memory and pids limits. Disks, taps and sockets are opened by berthd and passed as fds,
// so the jail needs no path to them (qemu_backend.cpp does that part).
//
// The jail's uid and gid are uid_base + QEMU's host pid: unique among running VMs by
// construction, known again after a berthd restart from the pid alone, and nothing to allocate
// or free.
#pragma once

#include <caf/expected.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::vm {

/// Default first uid of the jail range (berthd --jail-uid-base).
inline constexpr uint32_t default_jail_uid_base = 2'000'000'000u;

/// A host path made visible in the jail.
struct jail_bind {
  std::filesystem::path source;  ///< On the host.
  std::filesystem::path target;  ///< Inside the jail (absolute).
  bool readonly = true;
};

/// What one jail holds and how it is limited.
struct jail_spec {
  std::filesystem::path root;  ///< An empty host directory: the jail's tmpfs is mounted there.
  uint32_t uid_base = default_jail_uid_base;
  std::vector<jail_bind> binds;
  std::vector<std::filesystem::path> devices;  ///< Host device nodes recreated in the jail.
  std::vector<std::filesystem::path> owned;    ///< Host files chowned to the jail's uid.
  bool share_caps = false;    ///< Keep CAP_DAC_OVERRIDE and CAP_FOWNER (9p host shares).
  bool proc = false;          ///< Mount the PID namespace's /proc (9p's xattr calls use it).
  bool new_network = false;   ///< A network namespace of its own (no host sockets at all).
  std::string cgroup;         ///< Name of its cgroup ("berth-<short id>").
  uint64_t memory_limit = 0;  ///< Bytes; 0: none.
  uint64_t pids_limit = 0;    ///< 0: none.
};

/// The standard jail for QEMU: its binary, libraries and firmware read-only.
jail_spec qemu_jail(const std::filesystem::path& root, const std::string& qemu_binary);

/// The cgroup directories that `spec` gets on this host (v2 when its memory and pids
/// controllers are there, else v1's memory and pids hierarchies), under berthd's own cgroups.
std::vector<std::filesystem::path> jail_cgroup_dirs(const std::string& name);

/// Removes a jail's cgroups (empty once its process ended); best effort, retried briefly.
void remove_jail_cgroups(const std::vector<std::filesystem::path>& dirs);

/// The berth jail cgroups that process `pid` is in (for cleanup when it ends).
std::vector<std::filesystem::path> jail_cgroups_of(pid_t pid);

/// Starts `argv` (argv[0] an absolute path, bound into the jail) in the jail `spec` with the
/// fds and stdio of `opts`; returns its host pid.
caf::expected<pid_t> spawn_jailed(const std::vector<std::string>& argv, const jail_spec& spec,
                                  int stdout_fd, int stderr_fd, std::vector<int> keep_fds);

}  // namespace berth::vm
