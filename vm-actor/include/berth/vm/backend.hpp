// backend: what the vm actor asks of the machine that runs its VM.
//
// The vm actor decides (when to launch, stop, kill, restart, adopt, give up); a backend does:
// start the VM process, watch it, signal it, connect to its guest agent and ask its monitor.
// The QEMU backend does this with real processes and sockets. Tests give the actor a fake
// backend and run it on CAF's test coordinator, so every decision is tested in milliseconds
// without a VM.
//
// Calls marked blocking run on a job thread (berth/actors/job.hpp); the others run on the actor.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/vm/qemu.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace berth::vm {

struct vm_environment;

/// Watching one VM process; destroying it stops watching (the process lives on).
class vm_watch {
 public:
  virtual ~vm_watch() = default;
};

/// Runs VMs for the vm actor.
class vm_backend {
 public:
  virtual ~vm_backend() = default;

  /// Blocking. Prepares the container's disk and sockets and starts its VM with `nics`;
  /// returns the VM process's pid.
  virtual caf::expected<int64_t> launch(const vm_environment& env, const container_record& rec,
                                        const std::vector<net_device>& nics) const = 0;

  /// Watches `pid` and calls `on_exit(status)` once, from any thread, when it ends: its exit
  /// code, 128 + signal, or -1 when unknown (a process that is not our child).
  virtual std::unique_ptr<vm_watch> watch(pid_t pid, bool own_child,
                                          std::function<void(int)> on_exit) const = 0;

  /// Sends the VM process a signal.
  virtual void kill(pid_t pid, int sig) const = 0;

  /// Connects to the guest agent of the VM `pid` and returns the session actor, which sends
  /// `owner` (notice_atom, method, packed) for notifications and (closed_atom, why) when the
  /// connection ends, and answers (call_atom, method, packed). With `booting`, blocking: waits
  /// until the agent is up or env.boot_timeout passes; without, one attempt.
  virtual caf::expected<caf::actor> connect_agent(caf::actor_system& sys, const vm_environment& env,
                                                  const container_record& rec, pid_t pid,
                                                  caf::actor owner, bool booting) const = 0;

  /// Blocking. One command to the VM's monitor (QMP: "quit", "query-status", "cont"); the raw
  /// JSON of its answer.
  virtual caf::expected<std::string> monitor(const vm_environment& env, const container_record& rec,
                                             const std::string& command,
                                             std::chrono::milliseconds timeout) const = 0;

  /// Whether `pid` is this container's VM process (not a pid the kernel has given another).
  virtual bool owns(pid_t pid, const vm_environment& env, const container_record& rec) const = 0;

  /// Every VM process of this container, including one whose start was not recorded. A scan of
  /// /proc: called on the actor, once, for a container found lost when its actor starts (a job
  /// would let a new start race the scan, and the scan kill the new VM).
  virtual std::vector<pid_t> strays(const vm_environment& env,
                                    const container_record& rec) const = 0;
};

/// The backend that runs each VM as a QEMU process of this host.
std::shared_ptr<const vm_backend> qemu_backend();

}  // namespace berth::vm
