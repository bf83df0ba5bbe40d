// process_watch: tells an actor when a QEMU process ends.
//
// One thread per watched process waits on a pidfd, so it works for QEMUs that berthd started
// (it also reaps them and reports their status) and for ones it adopted after a restart (status
// unknown: -1). Destroying the watch cancels and joins the thread, so it never outlives its
// actor or the actor system.
#pragma once

#include "berth/vm/backend.hpp"

#include <sys/types.h>

#include <functional>
#include <thread>

namespace berth::vm {

/// Watches one process until it exits or the watch is destroyed.
class process_watch : public vm_watch {
 public:
  /// Starts watching `pid`; calls `on_exit(status)` once, on the watch thread, when it exits.
  /// `status` is the exit code, 128 + signal, or -1 when `pid` is not our child.
  process_watch(pid_t pid, bool own_child, std::function<void(int)> on_exit);
  ~process_watch() override;
  process_watch(const process_watch&) = delete;
  process_watch& operator=(const process_watch&) = delete;

 private:
  int cancel_fd_ = -1;
  std::thread thread_;
};

}  // namespace berth::vm
