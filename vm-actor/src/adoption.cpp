// adoption.cpp: a vm actor that starts from a record saying live takes up the VM that still
// runs (adopt), or marks the container exited with the reason when it cannot (mark_lost).
#include "vm_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>

namespace berth::vm::detail {

namespace {

// Handles what came while the agent was being reached, in the order it came.
void release_held(self_ptr self) {
  auto& st = self->state;
  st.adopting = false;
  auto held = std::move(st.held);
  st.held.clear();
  for (auto& h : held)
    self->enqueue(caf::make_mailbox_element(std::move(h.sender), h.mid, std::move(h.stages),
                                            std::move(h.content)),
                  self->context());
}

// The agent answered the handshake: the session starts as it would after a boot.
void adopted(self_ptr self, caf::actor agent, bool was_stopping) {
  auto& st = self->state;
  st.agent = std::move(agent);
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

}  // namespace

bool hold_while_adopting(self_ptr self) {
  auto& st = self->state;
  if (!st.adopting) return false;
  auto* e = self->current_mailbox_element();
  st.held.push_back({e->sender, e->mid, e->stages, e->copy_content_to_message()});
  return true;
}

// Takes up a container whose VM kept running while this actor (or berthd) was gone: watch its
// QEMU, reopen the log, plug its network again, then reach the agent in a job and ask the guest
// whether the workload still runs. Output the guest queued meanwhile arrives first.
void adopt(self_ptr self) {
  auto& st = self->state;
  auto pid = static_cast<pid_t>(st.rec.qemu_pid);
  bool was_stopping = st.rec.state == state::stopping;
  st.qemu_pid = pid;
  watch_vm(self, pid);
  st.ph = phase::running;
  st.rec.state = state::running;
  // For the backoff, it has run since the record says (berthd's clock is not the guest's).
  st.running_since = now(self) - std::chrono::nanoseconds(
                                     std::max<int64_t>(0, os::unix_time_ns() - st.rec.started));
  open_log(st);
  vm_log.info("container={} adopting its running VM (qemu pid {})", st.short_id(), pid);
  attachment_of(st.rec).adopt(self);
  persist(self);
  st.adopting = true;
  auto& sys = self->home_system();
  run_job(self,
          [&sys, env = st.env, rec = st.rec, pid,
           owner = caf::actor_cast<caf::actor>(self)]() -> caf::expected<caf::actor> {
            // A VM that QEMU paused on a disk write error while the data root was full runs
            // nothing, its agent included, and the berthd that would have resumed it (the
            // heartbeat) is gone: resume it before the handshake. Without room QEMU pauses it
            // again, and the reason says so.
            if (auto resumed = resume_if_paused_on_io_error(*env, rec); resumed && *resumed)
              vm_log.warn(
                  "container={} its VM was paused on a disk write error (is the data "
                  "root full?); resumed it",
                  rec.id.substr(0, 12));
            auto agent = env->backend->connect_agent(sys, *env, rec, pid, owner, false);
            if (agent) return agent;
            if (auto paused = resume_if_paused_on_io_error(*env, rec); paused && *paused)
              return make_error(errc::unavailable,
                                "its VM is paused on a disk write error (is the data root full?)");
            return agent.error();
          })
      .then(
          [self, was_stopping](caf::actor& agent) {
            auto& st = self->state;
            // Its QEMU ended meanwhile (or a forced removal killed it): nothing to take up.
            if (st.ph != phase::running || !st.kill_reason.empty()) {
              caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
            } else {
              adopted(self, std::move(agent), was_stopping);
            }
            release_held(self);
          },
          [self](caf::error& err) {
            auto& st = self->state;
            if (st.ph == phase::running && st.kill_reason.empty())
              kill_vm(self, "its guest agent could not be reached after berthd restarted: " +
                                describe(err));
            release_held(self);
          });
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
