// adoption.cpp: a vm actor that starts from a record saying live takes up the VM that still
// runs (adopt), or marks the container exited with the reason when it cannot (mark_lost).
#include "vm_state.hpp"

#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

namespace berth::vm::detail {

// Takes up a container whose VM kept running while this actor (or berthd) was gone: watch its
// QEMU, reconnect to the agent, reopen the log, plug its network again, and ask the guest
// whether the workload still runs. Output the guest queued meanwhile arrives first.
void adopt(self_ptr self) {
  auto& st = self->state;
  auto pid = static_cast<pid_t>(st.rec.qemu_pid);
  bool was_stopping = st.rec.state == state::stopping;
  st.qemu_pid = pid;
  auto handle = caf::actor_cast<caf::actor>(self);
  watch_vm(self, pid);
  st.ph = phase::running;
  st.rec.state = state::running;
  // For the backoff, it has run since the record says (berthd's clock is not the guest's).
  st.running_since = now(self) - std::chrono::nanoseconds(
                                     std::max<int64_t>(0, os::unix_time_ns() - st.rec.started));
  open_log(st);
  vm_log.info("container={} adopting its running VM (qemu pid {})", st.short_id(), pid);
  attachment_of(st.rec).adopt(self);
  // A VM that QEMU paused on a disk write error while the data root was full runs nothing, its
  // agent included, and the berthd that would have resumed it (the heartbeat) is gone: resume
  // it before the handshake. Without room QEMU pauses it again, and the reason says so.
  if (auto resumed = resume_if_paused_on_io_error(*st.env, st.rec); resumed && *resumed)
    vm_log.warn(
        "container={} its VM was paused on a disk write error (is the data root full?); "
        "resumed it",
        st.short_id());
  auto agent = st.backend().connect_agent(self->home_system(), *st.env, st.rec, pid, handle, false);
  if (!agent) {
    persist(self);
    auto why = describe(agent.error());
    if (auto paused = resume_if_paused_on_io_error(*st.env, st.rec); paused && *paused)
      why = "its VM is paused on a disk write error (is the data root full?)";
    return kill_vm(self, "its guest agent could not be reached after berthd restarted: " + why);
  }
  st.agent = std::move(*agent);
  start_heartbeat(self);
  agent::version_request req;
  req.host_time_ns = os::unix_time_ns();
  call_agent(self, agent::method::version, rpc::pack(req))
      .then(
          [self](const std::string& packed) {
            auto info = from_guest<agent::version_info>(self, "version answer", packed);
            if (info && info->protocol != agent::protocol_version)
              vm_log.warn("container={} adopted guest agent speaks protocol {}, berthd {}",
                          self->state.short_id(), info->protocol, agent::protocol_version);
          },
          [](caf::error&) {});  // the heartbeat notices a guest that does not answer
  // The answer comes at once if the workload exited while nobody listened (its `exit`
  // notification may have gone to the berthd that died).
  self->request(st.agent, caf::infinite, call_atom_v, std::string(agent::method::wait),
                rpc::pack(agent::process_ref{st.rec.process.id}))
      .then(
          [self](const std::string& packed) {
            if (self->state.ph == phase::idle) return;
            if (auto status = from_guest<agent::exit_status>(self, "wait answer", packed))
              main_exit(self, *status);
          },
          [self](caf::error& err) {
            if (code_of(err) == errc::not_found && self->state.ph != phase::idle)
              kill_vm(self, "its guest no longer knows the workload: " + describe(err));
          });
  if (was_stopping) {
    // A stop was under way: send the stop signal again, with the container's own timeout.
    begin_stop(self, std::max(st.rec.stop_timeout, 0), 0);
  }
  // Health is runtime state: the adopted container's checks start over.
  if (st.ph == phase::running) start_health(self);
  persist(self);
}

// The record says live but the VM cannot be adopted: starting when berthd went away, or its
// QEMU gone. Whatever is left of it goes, and the container is exited with the reason; then its
// restart policy applies, or its taps go (a restart's plug takes them up instead).
void mark_lost(self_ptr self) {
  auto& st = self->state;
  for (auto pid : st.backend().strays(*st.env, st.rec)) {
    vm_log.warn("container={} ending its QEMU {}, which berthd cannot adopt", st.short_id(), pid);
    st.backend().kill(pid, SIGKILL);
  }
  std::error_code ec;
  fs::remove_all(st.run_dir(), ec);
  st.rec.published.clear();
  st.rec.exit_code = 137;
  st.rec.reason = st.rec.state == state::starting || st.rec.state == state::created
                      ? "berthd restarted while the container was starting"
                      : "its VM ended while berthd was not running";
  st.rec.state = state::exited;
  st.rec.qemu_pid = 0;
  st.rec.finished = os::unix_time_ns();
  vm_log.warn("container={} {}", st.short_id(), st.rec.reason);
  persist(self);
  if (restart_wanted(st.policy, st.rec.exit_code, st.rec.restart_count, st.rec.stopped_by_user)) {
    self->send(self, backoff_atom_v, ++st.restart_gen);
    return;
  }
  attachment_of(st.rec).forget(self);
}

}  // namespace berth::vm::detail
