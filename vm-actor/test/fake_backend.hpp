// fake_backend: a vm backend without VMs, for tests of the vm actor on CAF's test coordinator.
//
// A fake VM is a pid and a flag; its guest agent is a small actor that answers the calls the vm
// actor makes (version, configure_network, mount_root, start, ping, signal, wait, shutdown) the
// way berth-init does, and records them. The test makes the workload exit, the agent fall
// silent, QEMU report a paused VM or the VM die, and looks at what the vm actor did. A hostile
// guest is a fake whose agent answers a method with bytes the test chose (`answers`) or sends
// notifications the test wrote (`notify`).
#pragma once

#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/backend.hpp"
#include "berth/vm/vm_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace berth::vm::testing {

/// One fake VM: alive until killed or powered off.
struct fake_vm {
  pid_t pid = 0;
  std::string process_id;  ///< The workload's id (the container id).
  bool alive = true;
  std::function<void(int)> on_exit;               ///< The watch, while someone watches.
  caf::actor owner;                               ///< The vm actor its agent talks to.
  caf::actor agent;                               ///< The agent session, while connected.
  std::vector<std::string> calls;                 ///< Agent methods called, in order.
  std::map<std::string, std::string> args;        ///< The last packed argument of each method.
  std::vector<int> signals;                       ///< Signals sent to the workload.
  std::optional<agent::exit_status> exited;       ///< The workload's end, once it ended.
  std::vector<caf::response_promise> waits;       ///< `wait` calls not answered yet.
  std::vector<caf::response_promise> unanswered;  ///< Calls a silent agent keeps.

  size_t count(std::string_view method) const {
    return static_cast<size_t>(std::count(calls.begin(), calls.end(), method));
  }
};

class fake_backend : public vm_backend {
 public:
  // How the fake behaves; the test sets these.
  bool launch_fails = false;     ///< launch answers unavailable.
  bool agent_silent = false;     ///< The agent answers no ping (a wedged guest).
  bool ignores_sigterm = false;  ///< The workload survives SIGTERM.
  mutable std::string status = R"({"status":"running","running":true})";  ///< QMP query-status.
  bool no_room = false;  ///< QEMU pauses the VM again at once after `cont` (a full data root).
  std::set<pid_t> ours;  ///< Pids owns() accepts besides live fake VMs it launched.
  /// Packed answers that replace the agent's own, by method (a hostile guest's).
  std::map<std::string, std::string, std::less<>> answers;

  // What happened.
  mutable int launches = 0;
  mutable std::vector<std::string> monitor_calls;
  mutable std::vector<std::pair<pid_t, int>> kills;
  mutable std::map<pid_t, std::shared_ptr<fake_vm>> vms;

  /// The VM launched last.
  std::shared_ptr<fake_vm> last() const { return vms.empty() ? nullptr : vms.rbegin()->second; }

  /// A VM that runs already (for adoption): its pid is ours.
  std::shared_ptr<fake_vm> running(pid_t pid, std::string process_id) {
    auto vm = std::make_shared<fake_vm>();
    vm->pid = pid;
    vm->process_id = std::move(process_id);
    vms[pid] = vm;
    ours.insert(pid);
    return vm;
  }

  /// The workload ends with `code` (`signal` when a signal ended it): the agent says so.
  static void exit_workload(fake_vm& vm, int32_t code, int32_t signal = 0) {
    if (vm.agent)
      caf::anon_send(vm.agent, exited_atom_v, int64_t{code}, signal);  // promises are its to keep
    else if (!vm.exited)
      vm.exited = agent::exit_status{vm.process_id, code, signal};
  }

  /// The agent sends the notification `method` with the packed argument `packed`.
  static void notify(fake_vm& vm, std::string method, std::string packed) {
    if (vm.owner) caf::anon_send(vm.owner, notice_atom_v, std::move(method), std::move(packed));
  }

  /// A silent guest runs again: the calls it kept are answered now (as a resumed guest does).
  static void wake(fake_vm& vm) {
    if (vm.agent) caf::anon_send(vm.agent, go_atom_v);
  }

  /// The VM ends with QEMU's `status`: its agent connection closes and its watch fires.
  static void power_off(fake_vm& vm, int status) {
    if (!vm.alive) return;
    vm.alive = false;
    if (vm.agent) {
      if (vm.owner) caf::anon_send(vm.owner, closed_atom_v, std::string("closed by peer"));
      caf::anon_send_exit(vm.agent, caf::exit_reason::user_shutdown);
      vm.agent = nullptr;
    }
    if (auto on_exit = std::move(vm.on_exit)) on_exit(status);
  }

  caf::expected<int64_t> launch(const vm_environment& env, const container_record& rec,
                                const std::vector<net_device>&) const override {
    ++launches;
    if (launch_fails) return make_error(errc::unavailable, "cannot start QEMU: fake failure");
    std::filesystem::create_directories(env.container_dir(rec.id));
    std::filesystem::create_directories(env.run_dir(rec.id));
    auto vm = std::make_shared<fake_vm>();
    vm->pid = next_pid_++;
    vm->process_id = rec.process.id;
    vms[vm->pid] = vm;
    return static_cast<int64_t>(vm->pid);
  }

  std::unique_ptr<vm_watch> watch(pid_t pid, bool,
                                  std::function<void(int)> on_exit) const override {
    auto vm = find(pid);
    if (!vm || !vm->alive) {
      on_exit(-1);
      return std::make_unique<vm_watch>();
    }
    vm->on_exit = std::move(on_exit);
    struct fake_watch : vm_watch {
      std::shared_ptr<fake_vm> vm;
      ~fake_watch() override { vm->on_exit = nullptr; }
    };
    auto w = std::make_unique<fake_watch>();
    w->vm = vm;
    return w;
  }

  void kill(pid_t pid, int sig) const override {
    kills.emplace_back(pid, sig);
    if (auto vm = find(pid); vm && sig == SIGKILL) power_off(*vm, 128 + SIGKILL);
  }

  caf::expected<caf::actor> connect_agent(caf::actor_system& sys, const vm_environment&,
                                          const container_record&, pid_t pid, caf::actor owner,
                                          bool) const override {
    auto vm = find(pid);
    if (!vm || !vm->alive) return make_error(errc::unavailable, "connection refused");
    // A VM that QEMU paused runs nothing: its agent does not answer the handshake.
    if (status.find("\"running\":false") != std::string::npos)
      return make_error(errc::timeout, "the guest agent did not answer the handshake");
    vm->owner = owner;
    vm->agent = sys.spawn(agent_behavior, vm, this);
    return vm->agent;
  }

  caf::expected<std::string> monitor(const vm_environment&, const container_record& rec,
                                     const std::string& command,
                                     std::chrono::milliseconds) const override {
    monitor_calls.push_back(command);
    auto vm = find(static_cast<pid_t>(rec.qemu_pid));
    if (!vm || !vm->alive) return make_error(errc::unavailable, "QMP: connection refused");
    if (command == "query-status") return status;
    if (command == "cont") {
      if (!no_room) status = R"({"status":"running","running":true})";
      return std::string("{}");
    }
    if (command == "quit") power_off(*vm, 0);
    return std::string("{}");
  }

  bool owns(pid_t pid, const vm_environment&, const container_record&) const override {
    auto vm = find(pid);
    return ours.count(pid) > 0 && vm && vm->alive;
  }

  std::vector<pid_t> strays(const vm_environment&, const container_record&) const override {
    std::vector<pid_t> out;
    for (auto& [pid, vm] : vms)
      if (vm->alive) out.push_back(pid);
    return out;
  }

 private:
  std::shared_ptr<fake_vm> find(pid_t pid) const {
    auto it = vms.find(pid);
    return it == vms.end() ? nullptr : it->second;
  }

  // The workload ended: answer `wait` and notify the vm actor, as berth-init does.
  static void end_workload(caf::event_based_actor* self, fake_vm& vm, int32_t code,
                           int32_t signal) {
    if (vm.exited) return;
    vm.exited = agent::exit_status{vm.process_id, code, signal};
    for (auto& rp : vm.waits) rp.deliver(rpc::pack(*vm.exited));
    vm.waits.clear();
    if (vm.owner)
      self->send(vm.owner, notice_atom_v, std::string(agent::notice::exit), rpc::pack(*vm.exited));
  }

  // berth-init, as far as the vm actor's state machine sees it.
  static caf::behavior agent_behavior(caf::event_based_actor* self, std::shared_ptr<fake_vm> vm,
                                      const fake_backend* backend) {
    return {
        [self, vm, backend](call_atom, const std::string& method,
                            const std::string& packed) -> caf::result<std::string> {
          vm->calls.push_back(method);
          vm->args[method] = packed;
          auto empty = rpc::pack(agent::empty{});
          if (auto it = backend->answers.find(method); it != backend->answers.end())
            return it->second;
          if (method == agent::method::version) {
            agent::version_info info;
            info.agent = "fake";
            info.protocol = agent::protocol_version;
            info.kernel = "fake";
            return rpc::pack(info);
          }
          if (method == agent::method::start) return rpc::pack(agent::process_started{1});
          if (method == agent::method::ping && backend->agent_silent) {
            auto rp = self->make_response_promise();
            vm->unanswered.push_back(rp);
            return caf::delegated<std::string>{};
          }
          if (method == agent::method::signal) {
            auto req = rpc::unpack_as<agent::signal_request>(packed);
            vm->signals.push_back(req.signal);
            if (req.signal == SIGKILL || (req.signal == SIGTERM && !backend->ignores_sigterm))
              end_workload(self, *vm, 128 + req.signal, req.signal);
            return empty;
          }
          if (method == agent::method::wait) {
            if (vm->exited) return rpc::pack(*vm->exited);
            vm->waits.push_back(self->make_response_promise());
            return caf::delegated<std::string>{};
          }
          if (method == agent::method::shutdown) {
            // Answers, then powers off (the agent's connection closes, QEMU exits with 0).
            self->send(self, shutdown_atom_v);
            return empty;
          }
          return empty;
        },
        [vm](shutdown_atom) { power_off(*vm, 0); },
        [vm](go_atom) {
          for (auto& rp : vm->unanswered) rp.deliver(rpc::pack(agent::empty{}));
          vm->unanswered.clear();
        },
        [self, vm](exited_atom, int64_t code, int32_t signal) {
          end_workload(self, *vm, static_cast<int32_t>(code), signal);
        },
    };
  }

  mutable pid_t next_pid_ = 4000;
};

}  // namespace berth::vm::testing
