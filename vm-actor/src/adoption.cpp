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

// Whether `pid` is this container's QEMU: alive, and its command line names the container's
// console log (a pid the kernel gave to another process since does not).
bool is_our_qemu(pid_t pid, const fs::path& dir) {
  if (!os::process_alive(pid)) return false;
  std::string cmdline;
  try {
    cmdline = os::read_file("/proc/" + std::to_string(pid) + "/cmdline", 1u << 20);
  } catch (const std::system_error&) {
    return false;
  }
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find("path=" + (dir / "console.log").string() + ",") != std::string::npos;
}

// Every QEMU of this container, including one a berthd started and died before recording.
std::vector<pid_t> qemus_of(const fs::path& dir) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc", ec)) {
    auto name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto pid = static_cast<pid_t>(std::stol(name));
    if (pid != ::getpid() && is_our_qemu(pid, dir)) out.push_back(pid);
  }
  return out;
}

// Takes up a container whose VM kept running while this actor (or berthd) was gone: watch its
// QEMU, reconnect to the agent, reopen the log, plug its network again, and ask the guest
// whether the workload still runs. Output the guest queued meanwhile arrives first.
void adopt(self_ptr self) {
  auto& st = self->state;
  auto pid = static_cast<pid_t>(st.rec.qemu_pid);
  bool was_stopping = st.rec.state == state::stopping;
  st.qemu_pid = pid;
  auto handle = caf::actor_cast<caf::actor>(self);
  watch_qemu(self, pid);
  st.ph = phase::running;
  st.rec.state = state::running;
  open_log(st);
  vm_log.info("container={} adopting its running VM (qemu pid {})", st.short_id(), pid);
  if (st.rec.network_mode == "bridge" && !st.rec.endpoints.empty()) {
    if (auto nets = nets_of(self)) plug_again(self, nets, "adopted");
    else vm_log.warn("container={} adopted without its network: the network service is not running", st.short_id());
  }
  auto fd = st.env->transport == "vsock" ? connect_vsock(st.rec.vsock_cid, agent::vsock_port)
                                         : connect_unix(st.run_dir() / "agent.sock");
  if (!fd) {
    persist(self);
    return kill_vm(self, "its guest agent could not be reached after berthd restarted: " + describe(fd.error()));
  }
  st.agent = spawn_agent_session(self->home_system(), *fd, handle);
  start_heartbeat(self);
  agent::version_request req;
  req.host_time_ns = os::unix_time_ns();
  call_agent(self, agent::method::version, rpc::pack(req))
      .then(
          [self](const std::string& packed) {
            auto info = rpc::unpack_as<agent::version_info>(packed);
            if (info.protocol != agent::protocol_version)
              vm_log.warn("container={} adopted guest agent speaks protocol {}, berthd {}", self->state.short_id(),
                          info.protocol, agent::protocol_version);
          },
          [](caf::error&) {});  // the heartbeat notices a guest that does not answer
  // The answer comes at once if the workload exited while nobody listened (its `exit`
  // notification may have gone to the berthd that died).
  self->request(st.agent, caf::infinite, call_atom_v, std::string(agent::method::wait),
                rpc::pack(agent::process_ref{st.rec.process.id}))
      .then(
          [self](const std::string& packed) {
            if (self->state.ph != phase::idle) main_exit(self, rpc::unpack_as<agent::exit_status>(packed));
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
  for (auto pid : qemus_of(st.dir())) {
    vm_log.warn("container={} ending its QEMU {}, which berthd cannot adopt", st.short_id(), pid);
    ::kill(pid, SIGKILL);
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
    self->send(self, restart_atom_v, ++st.restart_gen);
    return;
  }
  // Its taps, if the net supervisor did not clean them up (berthd was killed): plug adopts
  // them, unplug deletes them.
  if (st.rec.network_mode == "bridge" && !st.rec.endpoints.empty())
    if (auto nets = nets_of(self)) {
      auto id = st.rec.id;
      self->request(nets, std::chrono::seconds(60), plug_atom_v, id, st.rec.endpoints, std::vector<api::port_mapping>{})
          .then([self, nets, id](std::vector<std::string>&, std::vector<api::port_mapping>&) {
                  self->request(nets, std::chrono::seconds(30), unplug_atom_v, id).then([] {}, [](caf::error&) {});
                },
                [](caf::error&) {});
    }
}

}  // namespace berth::vm::detail
