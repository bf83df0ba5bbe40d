// health_probe.cpp: the container's health check, run in the guest every interval while the
// container runs.
#include "vm_state.hpp"

#include "berth/os/random.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"

#include <signal.h>

namespace berth::vm::detail {

// Health checks. While the container runs, its check (health_command) is started in the guest
// like an exec every interval, counted from the end of the previous one; its output is kept here
// rather than sent to a subscriber, and a check that outlives its timeout is killed and failed.
// Results change rec.health (apply_health_result); only a change of status is written to the
// store, every result goes to the listener for ps and inspect.

// Tells the vm supervisor of a new result without writing the record (health is runtime state).
void publish(self_ptr self) {
  auto& st = self->state;
  if (st.listener) caf::anon_send(st.listener, save_atom_v, st.rec);
}

// No check runs or is scheduled from now on; rec.health stays as last seen.
void stop_health(self_ptr self) {
  auto& st = self->state;
  ++st.health_gen;
  st.probe.reset();
}

// The container runs (started or adopted): its health starts over from "starting".
void start_health(self_ptr self) {
  auto& st = self->state;
  stop_health(self);
  st.rec.health = api::health_state{};
  if (health_command(st.rec.healthcheck).empty()) return;
  st.rec.health.status = health::starting;
  self->delayed_send(self, timing_of(st.rec.healthcheck).interval, health_atom_v, st.health_gen);
}

// The running check ended with `exit_code` (-1: it could not run or timed out).
void finish_probe(self_ptr self, int32_t exit_code, std::string why) {
  auto& st = self->state;
  if (!st.probe) return;
  api::health_result result{st.probe->start, os::unix_time_ns(), exit_code,
                            why.empty() ? std::move(st.probe->output) : std::move(why)};
  st.probe.reset();
  auto timing = timing_of(st.rec.healthcheck);
  auto before = st.rec.health.status;
  if (apply_health_result(st.rec.health, std::move(result), timing, st.rec.started)) {
    vm_log.info("container={} health: {} -> {}", st.short_id(), before, st.rec.health.status);
    persist(self);
  } else {
    publish(self);
  }
  self->delayed_send(self, timing.interval, health_atom_v, st.health_gen);
}

// A check is due: start it in the guest, in the main process's namespace as exec does.
void run_probe(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.health_gen || st.ph != phase::running || !st.agent || st.probe) return;
  agent::process_spec p;
  p.id = "health-" + os::random_hex(6);
  p.args = health_command(st.rec.healthcheck);
  p.env = st.rec.process.env;
  p.cwd = st.rec.process.cwd;
  p.user = st.rec.process.user;
  p.join = st.rec.process.id;
  auto seq = ++st.probe_seq;
  // Registered before the call: its output and exit may come before the answer.
  st.probe = health_probe{p.id, seq, os::unix_time_ns(), {}};
  self->delayed_send(self, timing_of(st.rec.healthcheck).timeout, expire_atom_v, seq);
  call_agent(self, agent::method::start, rpc::pack(p))
      .then([](const std::string&) {},
            [self, seq](caf::error& err) {
              auto& st = self->state;
              if (st.probe && st.probe->seq == seq)
                finish_probe(self, -1, "cannot run the health check: " + describe(err));
            });
}

// A check outlived its timeout: SIGKILL it in the guest and count it as failed.
void expire_probe(self_ptr self, uint64_t seq) {
  auto& st = self->state;
  if (!st.probe || st.probe->seq != seq) return;
  if (st.agent)
    call_agent(self, agent::method::signal, rpc::pack(agent::signal_request{st.probe->id, SIGKILL}),
               std::chrono::seconds(10))
        .then([](const std::string&) {}, [](caf::error&) {});  // it may have just exited
  auto timeout = timing_of(st.rec.healthcheck).timeout;
  finish_probe(self, -1, "Health check exceeded timeout (" + go_duration(timeout) + ")");
}

}  // namespace berth::vm::detail
