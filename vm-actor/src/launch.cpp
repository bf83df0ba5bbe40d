// launch.cpp: starting a container's VM: its network, disk and QEMU (on a job thread), the
// agent connection and version handshake that says the guest is up, the guest's network and
// root, and the workload's start.
#include "vm_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/os/file.hpp"
#include "berth/os/time.hpp"
#include "berth/rpc/codec.hpp"

namespace berth::vm::detail {

// The last lines of the console log, to explain a VM that died while booting.
std::string console_tail(const fs::path& console, std::size_t lines) {
  std::string text;
  try {
    text = os::read_tail(console, 64 * 1024);
  } catch (...) {
    return {};
  }
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
  }
  auto tail = text.substr(pos);
  while (!tail.empty() && (tail.front() == '\n' || tail.front() == '\r')) tail.erase(0, 1);
  return tail;
}

// The workload's mounts as berth-init needs them, numbered as launch_qemu attached them.
agent::mount_spec mount_spec_of(const container_record& rec) {
  agent::mount_spec spec;
  spec.readonly_root = rec.read_only;
  spec.hostname = rec.process.hostname;
  spec.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  auto& net = attachment_of(rec);
  spec.hosts += net.hosts_entry(rec) + "\n";
  auto nameserver = net.resolver(rec);
  if (!rec.dns.empty()) {
    for (auto& d : rec.dns) spec.resolv_conf += "nameserver " + d + "\n";
  } else if (!nameserver.empty()) {
    spec.resolv_conf = "nameserver " + nameserver + "\n";
  }
  if (!spec.resolv_conf.empty()) spec.resolv_conf += "options ndots:0\n";
  std::size_t disks = 0, shares = 0;
  for (auto& m : rec.mounts) {
    agent::mount_entry e;
    e.target = m.target;
    e.readonly = m.readonly;
    e.options = m.options;
    if (m.type == "volume") {
      e.type = "disk";
      e.source = "vol" + std::to_string(disks++);
      // A read-only disk cannot replay ext4's journal: mount what is checkpointed (a volume
      // another container writes is seen as of its last checkpoint).
      if (m.readonly) e.options = "noload";
    } else if (m.type == "bind") {
      e.type = "9p";
      e.source = "share" + std::to_string(shares++);
    } else {
      e.type = "tmpfs";
    }
    spec.mounts.push_back(std::move(e));
  }
  return spec;
}

// The VM is up and the agent answers: mount the root, start the workload.
void start_workload(self_ptr self) {
  call_agent(self, agent::method::mount_root, rpc::pack(mount_spec_of(self->state.rec)))
      .then(
          [self](const std::string&) {
            auto& st = self->state;
            if (st.ph != phase::booting) return;
            // The workload's output numbers continue the log's (output_chunk's seq).
            st.rec.process.output_seq = st.log.seq_end();
            call_agent(self, agent::method::start, rpc::pack(st.rec.process))
                .then(
                    [self](const std::string& packed) {
                      auto& st = self->state;
                      if (st.ph != phase::booting) return;
                      auto started =
                          from_guest<agent::process_started>(self, "start answer", packed);
                      if (!started) return;
                      st.ph = phase::running;
                      st.rec.state = state::running;
                      st.rec.started = os::unix_time_ns();
                      st.running_since = now(self);
                      vm_log.info("container={} running (guest pid {}, qemu pid {})", st.short_id(),
                                  started->pid, st.qemu_pid);
                      start_health(self);
                      persist(self);
                      start_heartbeat(self);
                      for (auto& rp : st.starters) rp.deliver(caf::unit);
                      st.starters.clear();
                    },
                    [self](caf::error& err) { fail_start(self, std::move(err)); });
          },
          [self](caf::error& err) { fail_start(self, std::move(err)); });
}

// The guest's interfaces (lo alone with --network none), then the workload.
void configure_network(self_ptr self) {
  auto& st = self->state;
  auto cfg = attachment_of(st.rec).guest_network(st);
  call_agent(self, agent::method::configure_network, rpc::pack(cfg))
      .then(
          [self](const std::string&) {
            if (self->state.ph != phase::booting) return;
            start_workload(self);
          },
          [self](caf::error& err) {
            fail_start(self, make_error(code_of(err),
                                        "cannot configure the guest's network: " + describe(err)));
          });
}

// The agent connection is up: ask for the agent's version (the guest is ready when it answers),
// then mount the root and start the workload.
void handshake(self_ptr self, caf::actor agent, caf::actor_clock::time_point started) {
  auto& st = self->state;
  st.agent = std::move(agent);
  agent::version_request req;
  req.host_time_ns = os::unix_time_ns();
  call_agent(self, agent::method::version, rpc::pack(req), st.env->boot_timeout)
      .then(
          [self, started](const std::string& packed) {
            auto& st = self->state;
            if (st.ph != phase::booting) return;
            auto info = from_guest<agent::version_info>(self, "version answer", packed);
            if (!info) return;
            auto ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(now(self) - started).count();
            vm_log.info("container={} guest up in {} ms: {} on {}, {}", st.short_id(), ms,
                        guest_text(info->agent), guest_text(info->kernel),
                        guest_text(info->transport));
            if (info->protocol != agent::protocol_version)
              return fail_start(
                  self, make_error(errc::unsupported,
                                   "guest agent speaks protocol " + std::to_string(info->protocol) +
                                       ", berthd " + std::to_string(agent::protocol_version)));
            configure_network(self);
          },
          [self](caf::error& err) {
            if (code_of(err) == errc::timeout)
              err = make_error(errc::timeout,
                               "the VM did not boot within " +
                                   std::to_string(self->state.env->boot_timeout.count()) +
                                   " ms (see berth logs --boot)");
            fail_start(self, std::move(err));
          });
}

// Watches the VM process `pid` and tells this actor when it ends. Reaped if it is our child;
// waitpid on another's (a QEMU adopted from a berthd that died) fails at once and the status is
// unknown.
void watch_vm(self_ptr self, pid_t pid) {
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.watch = self->state.backend().watch(pid, true, [handle, pid](int status) {
    caf::anon_send(handle, exited_atom_v, static_cast<int64_t>(pid), static_cast<int32_t>(status));
  });
}

void on_launched(self_ptr self, int64_t pid) {
  auto& st = self->state;
  st.qemu_pid = static_cast<pid_t>(pid);
  st.rec.qemu_pid = pid;
  watch_vm(self, st.qemu_pid);
  persist(self);
  st.ph = phase::booting;
  if (st.cancel) {
    // Stopped or removed while QEMU was being started.
    if (!st.start_error) st.start_error = make_error(errc::cancelled, "stopped before it started");
    st.rec.exit_code = 137;
    st.rec.reason = "stopped before it started";
    shutdown_vm(self);
    return;
  }
  open_log(st);
  auto started = now(self);
  // A job: with vsock nothing listens until berth-init is up, and connecting retries until then.
  auto& sys = self->home_system();
  run_job(self,
          [&sys, env = st.env, rec = st.rec, pid = st.qemu_pid,
           owner = caf::actor_cast<caf::actor>(self)] {
            return env->backend->connect_agent(sys, *env, rec, pid, owner, true);
          })
      .then(
          [self, started](caf::actor& agent) {
            if (self->state.ph != phase::booting) {
              caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
              return;
            }
            handshake(self, std::move(agent), started);
          },
          [self](caf::error& err) { fail_start(self, std::move(err)); });
}

void launch(self_ptr self) {
  auto& st = self->state;
  st.ph = phase::launching;
  st.main_exited = false;
  st.start_error = caf::error{};
  st.rec.state = state::starting;
  st.rec.exit_code = 0;
  st.rec.reason.clear();
  st.rec.finished = 0;
  st.rec.health = api::health_state{};
  st.kill_reason.clear();
  if (st.env->transport == agent_transport::vsock) st.rec.vsock_cid = random_vsock_cid();
  st.nics.clear();
  st.rec.published.clear();
  auto& net = attachment_of(st.rec);
  // No VM was started: nothing to shut down, only this run's network to give back.
  auto failed = [self, &net](caf::error err) {
    net.unplug(self);
    fail_start(self, std::move(err));
    finalize(self);
  };
  net.plug(self, [self, failed](caf::error err) {
    if (err) return failed(std::move(err));
    auto& st = self->state;
    persist(self);
    run_job(self, [env = st.env, rec = st.rec,
                   nics = st.nics] { return env->backend->launch(*env, rec, nics); })
        .then([self](int64_t pid) { on_launched(self, pid); },
              [failed](caf::error& err) { failed(std::move(err)); });
  });
}

}  // namespace berth::vm::detail
