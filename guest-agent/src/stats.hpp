// stats: the guest's view of its resources for `berth stats`, read from /proc and /sys.
//
// Everything is a counter or a gauge the host turns into rates: CPU time of all vCPUs from the
// "cpu" line of /proc/stat, memory from /proc/meminfo, the processes in /proc (without the agent
// and kernel threads), disks from /sys/block/vd*/stat named by their virtio serial, and network
// interfaces from /proc/net/dev. Cheap enough to call every second.
#pragma once

#include "berth/agent/protocol.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>

namespace berth::agent {

/// Where collect_stats() reads: the real trees in the VM, fake ones in tests.
struct stats_sources {
  std::string proc = "/proc";
  std::string sys_block = "/sys/block";
  pid_t self = 0;  ///< The agent's pid, left out of `pids`; 0: getpid().
};

/// The vm_stats of the machine the agent runs on.
vm_stats collect_stats(const stats_sources& src = {});

/// user + nice + system + irq + softirq jiffies of the "cpu" line of /proc/stat text.
uint64_t busy_jiffies(std::string_view proc_stat);

/// The value in kB of `key` ("MemTotal") in /proc/meminfo text, as bytes; 0 if absent.
uint64_t meminfo_bytes(std::string_view meminfo, std::string_view key);

/// Processes in `proc_dir` without `self` and kernel threads (pid 2 and every process whose
/// parent is 2 and whose cmdline is empty).
uint32_t count_processes(const std::string& proc_dir, pid_t self);

/// Received and sent bytes of each interface in /proc/net/dev text, without lo.
std::vector<io_counter> parse_net_dev(std::string_view text);

}  // namespace berth::agent
