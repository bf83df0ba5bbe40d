// heartbeat.cpp: the running container's agent is pinged; a guest silent for the heartbeat
// timeout is killed as unresponsive, unless QEMU paused it on a disk write error: then it is
// resumed. Each beat also cuts the VM's console log when it passed its cap; with the heartbeat
// off (a timeout of 0) the beat still comes, every second, for that alone. A guest that
// breaks the protocol is killed too (guest_fault).
#include "vm_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/rpc/codec.hpp"

#include <signal.h>

namespace berth::vm::detail {

// Kills the VM for a reason of berthd's own; QEMU's exit then ends the container with it.
void kill_vm(self_ptr self, std::string why) {
  auto& st = self->state;
  vm_log.warn("container={} {}: killing its VM", st.short_id(), why);
  st.kill_reason = std::move(why);
  ++st.heartbeat_gen;
  signal_vm(self, SIGKILL);
}

void guest_fault(self_ptr self, std::string_view what, const caf::error& err) {
  auto& st = self->state;
  auto why = "the guest agent sent a bad " + std::string(what) + ": " + describe(err);
  if (st.agent) {
    caf::anon_send_exit(st.agent, caf::exit_reason::user_shutdown);
    st.agent = nullptr;
  }
  switch (st.ph) {
    case phase::booting:
      fail_start(self, make_error(errc::protocol, why));
      signal_vm(self, SIGKILL);
      break;
    case phase::running:
    case phase::stopping:
    case phase::shutting_down:
      kill_vm(self, std::move(why));
      break;
    default:
      vm_log.warn("container={} {}", st.short_id(), why);
      break;
  }
}

// Pings the agent every heartbeat interval while the container runs. Any answer or
// notification is a sign of life; a guest that gives none for the heartbeat timeout (QEMU
// stopped, the guest or its agent wedged) is unresponsive and its VM is killed, so the
// restart policy decides what follows.
void heartbeat(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.heartbeat_gen || (st.ph != phase::running && st.ph != phase::stopping)) return;
  cap_console_log(self);
  auto timeout = st.env->heartbeat_timeout;
  auto interval = heartbeat_interval(timeout);
  if (timeout.count() <= 0) {
    self->delayed_send(self, interval, beat_atom_v, gen);
    return;
  }
  auto silent = now(self) - st.last_answer;
  if (silent > timeout && !st.status_in_flight) {
    // Silent: hung, or paused by QEMU because a write to one of its disks failed for lack of
    // space on the host (werror=enospc keeps the write to retry rather than failing it in the
    // guest). A paused VM is resumed: once there is room its writes go through; while there is
    // none QEMU pauses it again, and the next interval tries again. Anything else is hung.
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(silent).count();
    auto hung = "unresponsive: the guest agent did not answer for " + std::to_string(secs) + " s";
    st.status_in_flight = true;
    run_job(self, [env = st.env, rec = st.rec] { return resume_if_paused_on_io_error(*env, rec); })
        .then(
            [self, gen, hung, timeout, interval](bool resumed) {
              auto& st = self->state;
              st.status_in_flight = false;
              if (gen != st.heartbeat_gen) return;
              if (!resumed) return kill_vm(self, hung);
              if (!st.io_paused)
                vm_log.warn(
                    "container={} its VM paused on a disk write error (is the data root full?); "
                    "resuming it "
                    "every {} ms until the write goes through",
                    st.short_id(), interval.count());
              st.io_paused = true;
              // Checked again after one more interval, not a whole timeout.
              st.last_answer = now(self) - timeout + interval;
            },
            [self, gen, hung](caf::error&) {
              auto& st = self->state;
              st.status_in_flight = false;
              if (gen == st.heartbeat_gen) kill_vm(self, hung);
            });
  }
  if (st.agent && !st.ping_in_flight) {
    st.ping_in_flight = true;
    call_agent(self, agent::method::ping, rpc::pack(agent::empty{}), timeout)
        .then(
            [self](const std::string&) {
              auto& st = self->state;
              st.ping_in_flight = false;
              st.last_answer = now(self);
              if (std::exchange(st.io_paused, false))
                vm_log.info("container={} its VM runs again after a disk write error",
                            st.short_id());
            },
            [self](caf::error&) { self->state.ping_in_flight = false; });
  }
  self->delayed_send(self, interval, beat_atom_v, gen);
}

caf::expected<bool> resume_if_paused_on_io_error(const vm_environment& env,
                                                 const container_record& rec) {
  auto& vm = *env.backend;
  auto status = vm.monitor(env, rec, "query-status", std::chrono::seconds(2));
  if (!status) return status.error();
  if (status->find("\"io-error\"") == std::string::npos) return false;
  if (auto resumed = vm.monitor(env, rec, "cont", std::chrono::seconds(2)); !resumed)
    return resumed.error();
  return true;
}

void start_heartbeat(self_ptr self) {
  auto& st = self->state;
  st.last_answer = now(self);
  st.ping_in_flight = false;
  auto gen = ++st.heartbeat_gen;
  self->delayed_send(self, heartbeat_interval(st.env->heartbeat_timeout), beat_atom_v, gen);
}

}  // namespace berth::vm::detail
