// vm_state.hpp: the vm actor's state and the functions its parts share (private to vm-actor).
//
// The vm actor is one state machine (vm_actor.cpp) with its parts beside it: launch.cpp (QEMU,
// boot handshake, workload start), adoption.cpp (adopt a running VM or mark it lost),
// heartbeat.cpp and health_probe.cpp (liveness), attachment.cpp (the network), processes.cpp
// (exec, stdio, logs, stats) and file_calls.cpp (berth cp). They all work on one vm_state
// through the actor's pointer.
#pragma once

#include "agent_session.hpp"
#include "container_log.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/nets.hpp"
#include "berth/os/fd.hpp"
#include "berth/vm/backend.hpp"
#include "berth/vm/guest_wire.hpp"
#include "berth/vm/health.hpp"
#include "berth/vm/qemu.hpp"
#include "berth/vm/vm_actor.hpp"

#include <caf/actor_clock.hpp>
#include <caf/delegated.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vm::detail {

namespace fs = std::filesystem;

inline constexpr log::logger vm_log("vm");

/// The vm actor's full interface: the public one plus what its helpers send it.
using vm_impl = vm_actor::extend<
    /// A notification from the agent: method and packed argument.
    caf::reacts_to<notice_atom, std::string, std::string>,
    /// The agent connection ended.
    caf::reacts_to<closed_atom, std::string>,
    /// QEMU `pid` ended with `status` (-1 when unknown).
    caf::reacts_to<exited_atom, int64_t, int32_t>,
    /// A timer of generation `gen` fired.
    caf::reacts_to<tick_atom, uint64_t>,
    /// A restart the policy scheduled, of generation `gen`, is due (its backoff passed).
    caf::reacts_to<backoff_atom, uint64_t>,
    /// Plug the running container again (generation `gen`): the net supervisor restarted.
    caf::reacts_to<plug_atom, uint64_t>,
    /// A heartbeat of generation `gen` is due.
    caf::reacts_to<beat_atom, uint64_t>,
    /// A health check of generation `gen` is due.
    caf::reacts_to<health_atom, uint64_t>,
    /// Health check number `seq` ran out of time.
    caf::reacts_to<expire_atom, uint64_t>>;

enum class phase { idle, launching, booting, running, stopping, shutting_down };

/// A process started with exec.
struct exec_entry {
  caf::actor subscriber;  ///< Null when detached.
};

/// The health check running in the guest now.
struct health_probe {
  std::string id;      ///< Its process id in the guest.
  uint64_t seq = 0;    ///< Its number, for its timeout timer.
  int64_t start = 0;   ///< Unix ns.
  std::string output;  ///< The last health_output_bytes of its stdout and stderr.
};

/// A request that came while the agent of an adopted VM was being reached: enqueued again, with
/// its sender and request id, once the adoption ends.
struct held_request {
  caf::strong_actor_ptr sender;
  caf::message_id mid;
  caf::mailbox_element::forwarding_stack stages;
  caf::message content;
};

/// A `logs -f` whose stored part is still being sent: live output waits here meanwhile.
struct follower {
  caf::actor subscriber;
  std::vector<caf::message> held;
};

struct vm_state {
  std::shared_ptr<const vm_environment> env;
  container_record rec;
  restart_policy_spec policy;
  store_actor store;
  caf::actor listener;
  caf::actor agent;
  std::unique_ptr<vm_watch> watch;
  pid_t qemu_pid = 0;
  phase ph = phase::idle;
  std::vector<caf::response_promise> starters;
  caf::error start_error;  ///< Why start failed, answered once the VM is gone.
  std::vector<caf::response_promise> waiters;
  std::vector<caf::response_promise> stoppers;
  std::vector<caf::response_promise> removers;
  std::vector<caf::response_promise> restarters;  ///< `restart`: start again once stopped.
  std::vector<caf::actor> subscribers;
  std::map<uint64_t, follower> followers;
  uint64_t next_follower = 1;
  std::map<std::string, exec_entry> execs;
  uint64_t timer_gen = 0;
  uint64_t restart_gen = 0;
  uint32_t backoff_step = 0;  ///< Restarts in a row without a 10 s run in between.
  caf::actor_clock::time_point running_since{};  ///< When the workload started (actor clock).
  bool policy_launch = false;                    ///< This launch is a restart the policy made.
  bool main_exited = false;
  bool removing = false;
  bool cancel = false;           ///< Stop or remove asked for while QEMU was being started.
  bool kill_sent = false;        ///< The stop timeout passed and SIGKILL went to the workload.
  bool daemon_stopping = false;  ///< berthd's clean stop: no policy restarts until it starts again.
  caf::error removal_reply;      ///< A failed start answered once the --rm container is gone.
  std::vector<net_device> nics;  ///< This run's NICs (taps from plug, or user mode).
  bool plugged = false;          ///< plug answered for this run: unplug when the VM ends.
  caf::actor_addr plugged_into;  ///< The net supervisor that plugged it (monitored).
  uint64_t replug_gen = 0;
  log_writer log;           ///< Its container.log, open while the container runs.
  std::string kill_reason;  ///< Why berthd killed the VM (unresponsive, unreachable), if it did.
  uint64_t heartbeat_gen = 0;
  bool ping_in_flight = false;
  bool status_in_flight = false;  ///< Asking QMP why a silent guest is silent.
  bool io_paused = false;  ///< QEMU paused the VM on a write error (the host is out of space).
  caf::actor_clock::time_point last_answer;  ///< When the agent last gave a sign of life.
  uint64_t health_gen = 0;  ///< Bumped when checks start or stop: older timers are stale.
  uint64_t probe_seq = 0;
  std::optional<health_probe> probe;  ///< The check that runs now, if one does.
  bool adopting = false;           ///< Reaching the agent of a VM adopted after a restart (a job).
  std::vector<held_request> held;  ///< What needs the agent and came meanwhile.

  ~vm_state() {
    // The actor is ending: stop watching (the VM lives on), drop the agent connection.
    watch.reset();
    if (agent) caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
  }

  const vm_backend& backend() const { return *env->backend; }
  fs::path dir() const { return env->container_dir(rec.id); }
  fs::path run_dir() const { return env->run_dir(rec.id); }
  std::string short_id() const { return rec.id.substr(0, 12); }
  bool live() const { return ph != phase::idle; }

  static inline const char* name = "vm";
};

using self_ptr = vm_impl::stateful_pointer<vm_state>;

// vm_actor.cpp: the state machine.
void persist(self_ptr self);
void signal_vm(self_ptr self, int sig);
void shutdown_vm(self_ptr self);
void fail_start(self_ptr self, caf::error err);
void finish_removal(self_ptr self);
void finalize(self_ptr self);
void on_qemu_exit(self_ptr self, int status);
void main_exit(self_ptr self, const agent::exit_status& status);
void on_notice(self_ptr self, const std::string& method, const std::string& packed);
void send_signal(self_ptr self, int sig);
void begin_stop(self_ptr self, int32_t timeout, int signal);
caf::result<void> stop_container(self_ptr self, int32_t timeout, bool by_user, int32_t signal = 0);
caf::error not_running(const vm_state& st);

// Now, on the actor's clock (the test coordinator's in tests).
inline caf::actor_clock::time_point now(self_ptr self) {
  return self->clock().now();
}

// A request to the agent; its answer is the packed result.
inline auto call_agent(self_ptr self, std::string_view method, std::string packed,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return self->request(self->state.agent, timeout, call_atom_v, std::string(method),
                       std::move(packed));
}

// launch.cpp: QEMU, the boot handshake and the workload's start.
std::string console_tail(const fs::path& console, std::size_t lines);
agent::mount_spec mount_spec_of(const container_record& rec);
void watch_vm(self_ptr self, pid_t pid);
void launch(self_ptr self);

// adoption.cpp: a container whose record says live when its actor starts.
void adopt(self_ptr self);
void mark_lost(self_ptr self);

// True when the current request needs the agent and an adoption is still reaching it: the
// request is kept and handled once the adoption ends, and the handler answers nothing now
// (returns caf::delegated). Reaching the agent is a job, so a guest that never answers the
// handshake costs only its own container's requests the handshake timeout, not the daemon.
bool hold_while_adopting(self_ptr self);

// heartbeat.cpp: the agent's signs of life while the container runs, and the end of a VM whose
// guest broke the protocol.
void kill_vm(self_ptr self, std::string why);

// The guest sent a bad `what`: its agent session ends and its VM is killed (failing the start
// when it boots), with the reason logged and recorded. A hostile guest costs its own VM, never
// the actor: nothing about it throws.
void guest_fault(self_ptr self, std::string_view what, const caf::error& err);

// Every value the vm actor takes from its guest comes through here: `packed` as T, checked
// (guest_wire.hpp); on failure the guest is at fault (guest_fault) and the error is returned.
template <class T>
caf::expected<T> from_guest(self_ptr self, std::string_view what, std::string_view packed) {
  auto value = decode<T>(packed);
  if (!value) guest_fault(self, what, value.error());
  return value;
}
void heartbeat(self_ptr self, uint64_t gen);
void start_heartbeat(self_ptr self);

// Whether QEMU paused the VM on a disk write error (werror=enospc: the data root was full), and
// if so resumes it with `cont`; QEMU pauses it again while there is still no room. Blocking (two
// QMP round trips at most): for jobs only (the heartbeat's and adoption's).
caf::expected<bool> resume_if_paused_on_io_error(const vm_environment& env,
                                                 const container_record& rec);

// health_probe.cpp: the container's health check.
void stop_health(self_ptr self);
void start_health(self_ptr self);
void finish_probe(self_ptr self, int32_t exit_code, std::string why = {});
void run_probe(self_ptr self, uint64_t gen);
void expire_probe(self_ptr self, uint64_t seq);

// attachment.cpp: the container's network.

/// A container's --network, as the record names it.
enum class network_mode { none, bridge, user };
network_mode network_mode_of(const container_record& rec);

/// How a container's VM is attached to its network: one for each network mode (bridge without
/// endpoints is none). The vm actor calls it at each step of the VM's life and never asks which
/// mode it is.
class attachment {
 public:
  virtual ~attachment() = default;
  /// Before launch: sets this run's NICs and published ports; `done` with an error if it cannot.
  virtual void plug(self_ptr self, std::function<void(caf::error)> done) const = 0;
  /// The guest's interfaces.
  virtual agent::network_config guest_network(const vm_state& st) const = 0;
  /// The guest's own line in its /etc/hosts: its address and names.
  virtual std::string hosts_entry(const container_record& rec) const = 0;
  /// The guest's resolver when no --dns is given; empty: none.
  virtual std::string resolver(const container_record& rec) const = 0;
  /// A running VM was adopted: its network is taken up again.
  virtual void adopt(self_ptr self) const = 0;
  /// The VM ended or never started: this run's NICs and published ports go.
  virtual void unplug(self_ptr self) const = 0;
  /// The VM was lost while berthd was away: whatever it left on the host goes.
  virtual void forget(self_ptr self) const = 0;
  /// The container is being removed: its addresses go; then `done`.
  virtual void release(self_ptr self, std::function<void()> done) const = 0;
};

/// The attachment of `rec`'s network mode.
const attachment& attachment_of(const container_record& rec);

/// The net supervisor that plugged the running container went down: plug it into its successor.
void replug(self_ptr self, uint64_t gen);

// processes.cpp: exec, stdio, logs and figures of the running container.
void append_log(vm_state& st, int64_t time, uint8_t fd, uint64_t seq,
                const std::vector<char>& data);
void open_log(vm_state& st);
void cap_console_log(self_ptr self);
caf::result<void> send_logs(self_ptr self, caf::actor sub, const api::logs_request& req);
caf::result<std::string> start_exec(self_ptr self, const api::exec_request& req, caf::actor sub);
caf::result<void> write_stdin(self_ptr self, const std::string& process, std::vector<char>& data);
caf::result<void> close_stdin(self_ptr self, const std::string& process);
caf::result<void> resize_tty(self_ptr self, const std::string& process, uint16_t rows,
                             uint16_t cols);
caf::result<api::container_stats> query_stats(self_ptr self);
caf::result<api::ping_result> ping_agent(self_ptr self);

// file_calls.cpp: berth cp's calls.
caf::result<api::file_info> file_stat(self_ptr self, const api::file_ref& ref);
caf::result<std::vector<api::file_info>> file_list(self_ptr self, const api::file_ref& ref);
caf::result<api::file_data> file_read(self_ptr self, const api::file_read_request& req);
caf::result<void> file_write(self_ptr self, api::file_write_request& req);
caf::result<void> file_mkdir(self_ptr self, const api::file_spec& spec);
caf::result<void> file_symlink(self_ptr self, const api::file_spec& spec);
caf::result<void> file_touch(self_ptr self, const api::file_spec& spec);

}  // namespace berth::vm::detail
