// vm_actor.cpp: the container state machine around one QEMU process.
#include "berth/vm/vm_actor.hpp"

#include "agent_session.hpp"
#include "container_log.hpp"
#include "process_watch.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/actors/nets.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/container.hpp"
#include "berth/vm/disk.hpp"
#include "berth/vm/health.hpp"
#include "berth/vm/qemu.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace berth::vm {

namespace fs = std::filesystem;

namespace {

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
    /// A restart the policy scheduled, of generation `gen`.
    caf::reacts_to<restart_atom, uint64_t>,
    /// Plug the running container again (generation `gen`): the net supervisor restarted.
    caf::reacts_to<plug_atom, uint64_t>,
    /// A heartbeat of generation `gen` is due.
    caf::reacts_to<ping_atom, uint64_t>,
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
  std::unique_ptr<process_watch> watch;
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
  bool policy_launch = false;  ///< This launch is a restart the policy made.
  bool main_exited = false;
  bool removing = false;
  bool cancel = false;     ///< Stop or remove asked for while QEMU was being started.
  bool kill_sent = false;  ///< The stop timeout passed and SIGKILL went to the workload.
  bool daemon_stopping = false;  ///< berthd's clean stop: no policy restarts until it starts again.
  caf::error removal_reply;      ///< A failed start answered once the --rm container is gone.
  std::vector<net_device> nics;  ///< This run's NICs (taps from plug, or user mode).
  bool plugged = false;          ///< plug answered for this run: unplug when the VM ends.
  caf::actor_addr plugged_into;  ///< The net supervisor that plugged it (monitored).
  uint64_t replug_gen = 0;
  os::unique_fd log;       ///< container.log, open while the container runs.
  uint64_t log_size = 0;
  std::string kill_reason;  ///< Why berthd killed the VM (unresponsive, unreachable), if it did.
  uint64_t heartbeat_gen = 0;
  bool ping_in_flight = false;
  bool status_in_flight = false;  ///< Asking QMP why a silent guest is silent.
  bool io_paused = false;         ///< QEMU paused the VM on a write error (the host is out of space).
  std::chrono::steady_clock::time_point last_answer;  ///< When the agent last gave a sign of life.
  uint64_t health_gen = 0;  ///< Bumped when checks start or stop: older timers are stale.
  uint64_t probe_seq = 0;
  std::optional<health_probe> probe;  ///< The check that runs now, if one does.

  ~vm_state() {
    // The actor is ending: stop watching (the VM lives on), drop the agent connection.
    watch.reset();
    if (agent) caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
  }

  fs::path dir() const { return env->container_dir(rec.id); }
  fs::path run_dir() const { return env->run_dir(rec.id); }
  std::string short_id() const { return rec.id.substr(0, 12); }
  bool live() const { return ph != phase::idle; }

  static inline const char* name = "vm";
};

using self_ptr = vm_impl::stateful_pointer<vm_state>;

void persist(self_ptr self) {
  auto& st = self->state;
  if (st.store)
    self->request(st.store, caf::infinite, save_atom_v, st.rec)
        .then([] {}, [id = st.short_id()](caf::error& err) {
          vm_log.error("container={} cannot save its record: {}", id, describe(err));
        });
  if (st.listener) caf::anon_send(st.listener, save_atom_v, st.rec);
}

// Appends output to container.log, rotating it at the size limit.
void append_log(vm_state& st, int64_t time, uint8_t fd, const std::vector<char>& data) {
  if (!st.log) return;
  if (st.log_size >= log_rotate_bytes) {
    std::error_code ec;
    fs::rename(st.dir() / "container.log", st.dir() / "container.log.1", ec);
    st.log.reset(::open((st.dir() / "container.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    st.log_size = 0;
  }
  auto bytes = encode_log_record(time, fd, data);
  if (::write(st.log.get(), bytes.data(), bytes.size()) < 0)
    vm_log.warn("container={} cannot write its log: {}", st.short_id(), std::strerror(errno));
  else
    st.log_size += bytes.size();
}

// Opens container.log for appending (on start, and when a running container is adopted).
void open_log(vm_state& st) {
  st.log.reset(::open((st.dir() / "container.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  struct stat sb {};
  st.log_size = st.log && ::fstat(st.log.get(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
}

net_supervisor_actor nets_of(self_ptr self) {
  return self->home_system().registry().get<net_supervisor_actor>(caf::atom_from_string(net_supervisor_name));
}

// Watches the net supervisor that plugged the container. If it crashes, its successor adopts
// the bridges and leases but knows nothing of this container's taps and published ports: the
// container is plugged again (see the plug_atom handler), as on adoption.
void watch_nets(self_ptr self, const net_supervisor_actor& nets) {
  auto& st = self->state;
  if (st.plugged_into == nets.address()) return;
  st.plugged_into = nets.address();
  self->monitor(nets);
}

// Plugs a running container into `nets` again (adopted, or its net supervisor restarted): its
// taps are still on their bridges (QEMU holds them) and plug takes them up again; its published
// ports reopen on the host ports they had. `why` is for the log.
void plug_again(self_ptr self, const net_supervisor_actor& nets, const char* why) {
  auto& st = self->state;
  st.plugged = true;
  self->request(nets, std::chrono::seconds(60), plug_atom_v, st.rec.id, st.rec.endpoints, st.rec.published)
      .then(
          [self, nets, why](std::vector<std::string>& taps, std::vector<api::port_mapping>& ports) {
            auto& st = self->state;
            if (st.ph == phase::idle) return;
            vm_log.info("container={} plugged again ({})", st.short_id(), why);
            st.nics.clear();
            for (std::size_t i = 0; i < taps.size() && i < st.rec.endpoints.size(); ++i)
              st.nics.push_back({taps[i], st.rec.endpoints[i].mac, {}});
            st.rec.published = std::move(ports);
            watch_nets(self, nets);
            persist(self);
          },
          [self, why](caf::error& err) {
            vm_log.warn("container={} could not be plugged again ({}): {}", self->state.short_id(), why,
                        describe(err));
          });
}

// The net supervisor that plugged the running container went down: plug it into its successor.
void replug(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.replug_gen || (st.ph != phase::running && st.ph != phase::stopping)) return;
  if (auto nets = nets_of(self)) return plug_again(self, nets, "the network service restarted");
  // Still restarting (its backoff): try again shortly.
  self->delayed_send(self, std::chrono::milliseconds(250), plug_atom_v, gen);
}

// The VM ended (or never started): its taps, names and ports go; the leases stay.
void unplug(self_ptr self) {
  auto& st = self->state;
  st.nics.clear();
  st.rec.published.clear();
  if (!st.plugged) return;
  st.plugged = false;
  if (auto nets = nets_of(self))
    self->request(nets, std::chrono::seconds(30), unplug_atom_v, st.rec.id)
        .then([] {}, [id = st.short_id()](caf::error& err) {
          vm_log.warn("container={} unplug failed: {}", id, describe(err));
        });
}

// A stable locally administered MAC for the user-mode NIC.
std::string user_mode_mac(const std::string& id) {
  std::string mac = "02";
  for (std::size_t i = 0; i < 10; i += 2) mac += ":" + id.substr(i, 2);
  return mac;
}

// A free port on `ip` for user-mode forwarding (the kernel picks, then the socket closes).
caf::expected<uint16_t> free_port(const std::string& ip, const std::string& proto) {
  int fd = ::socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errc::io, std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, ip.empty() ? "0.0.0.0" : ip.c_str(), &a.sin_addr) != 1) {
    ::close(fd);
    return make_error(errc::invalid_argument, "invalid host address " + ip);
  }
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    auto e = std::string(std::strerror(errno));
    ::close(fd);
    return make_error(errc::io, "no free port on " + (ip.empty() ? std::string("0.0.0.0") : ip) + ": " + e);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Whether ip:port/proto can be bound now (user mode: QEMU would fail with a vaguer message).
bool port_free(const std::string& ip, uint16_t port, const std::string& proto) {
  int fd = ::socket(AF_INET, (proto == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.empty() ? "0.0.0.0" : ip.c_str(), &a.sin_addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

caf::expected<int64_t> launch_qemu(const vm_environment& env, const container_record& rec,
                                   const std::vector<net_device>& nics) {
  std::error_code ec;
  auto dir = env.container_dir(rec.id);
  auto run = env.run_dir(rec.id);
  fs::create_directories(dir, ec);
  if (!ec) fs::create_directories(run, ec);
  if (ec) return make_error(errc::io, "cannot create container directories: " + ec.message());
  ::chmod(run.c_str(), 0700);
  auto disk = dir / "rootfs.ext4";
  if (!fs::exists(disk))
    if (auto made = make_ext4_disk(disk, env.disk_size, "berth-rootfs"); !made) return std::move(made.error());
  vm_config cfg;
  cfg.qemu = env.qemu;
  cfg.accel = env.accel.name;
  cfg.tsc_khz = env.tsc_khz;
  cfg.cpus = std::max<uint32_t>(rec.cpus, 1);
  auto memory = rec.memory > 0 ? rec.memory : env.default_memory;
  cfg.memory_mib = static_cast<uint64_t>((memory + (1 << 20) - 1) >> 20) + guest_overhead_mib;
  cfg.kernel = env.kernel.boot_image;
  cfg.initramfs = env.initramfs;
  cfg.transport = env.transport;
  cfg.vsock_cid = rec.vsock_cid;
  cfg.image_disk = rec.image_disk;
  cfg.rootfs_disk = disk;
  cfg.console_log = dir / "console.log";
  cfg.debug = env.debug;
  cfg.nics = nics;
  for (auto& m : rec.mounts) {
    if (m.type == "volume") {
      auto path = env.volume_disk(m.source);
      if (!fs::exists(path)) return make_error(errc::not_found, "volume " + m.source + " has no disk");
      cfg.disks.push_back({path, "vol" + std::to_string(cfg.disks.size()), m.readonly});
    } else if (m.type == "bind") {
      // Docker creates a missing host directory for -v.
      fs::create_directories(m.source, ec);
      if (!fs::is_directory(m.source))
        return make_error(errc::invalid_argument, "bind source " + m.source + " is not a directory");
      cfg.shares.push_back({m.source, "share" + std::to_string(cfg.shares.size()), m.readonly});
    }
  }
  auto qmp = listen_unix(run / "qmp.sock");
  if (!qmp) return qmp.error();
  os::unique_fd qmp_fd(*qmp);
  os::unique_fd agent_fd;
  cfg.qmp_fd = qmp_fd.get();
  if (env.transport != "vsock") {
    auto agent = listen_unix(run / "agent.sock");
    if (!agent) return agent.error();
    agent_fd.reset(*agent);
    cfg.agent_fd = agent_fd.get();
  }
  // qemu.log holds this run's messages only, so a failed start can quote them.
  os::unique_fd out(::open((dir / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  os::spawn_options opts;
  opts.stdout_fd = out.get();
  opts.stderr_fd = out.get();
  opts.keep_fds = {qmp_fd.get()};
  if (agent_fd) opts.keep_fds.push_back(agent_fd.get());
  opts.new_session = true;
  pid_t pid;
  try {
    pid = os::spawn(qemu_argv(cfg), opts);
  } catch (const std::system_error& e) {
    return make_error(errc::unavailable, std::string("cannot start QEMU: ") + e.what());
  }
  try {
    os::write_file_atomic(run / "qemu.pid", std::to_string(pid) + "\n", 0600);
  } catch (const std::system_error& e) {
    vm_log.warn("container={} {}", rec.id.substr(0, 12), e.what());
  }
  return static_cast<int64_t>(pid);
}

// The last lines of the console log, to explain a VM that died while booting.
std::string console_tail(const fs::path& console, std::size_t lines) {
  std::string text;
  try {
    text = os::read_file(console, 64u << 20);
  } catch (...) {
    return {};
  }
  if (text.size() > 64 * 1024) text.erase(0, text.size() - 64 * 1024);
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

void kill_qemu(self_ptr self, int sig) {
  auto& st = self->state;
  if (st.qemu_pid > 0) ::kill(st.qemu_pid, sig);
}

// A request to the agent; its answer is the packed result.
auto call_agent(self_ptr self, std::string_view method, std::string packed,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return self->request(self->state.agent, timeout, call_atom_v, std::string(method), std::move(packed));
}

// Ends the VM: a clean shutdown through the agent when there is one, QMP quit when not, and
// SIGKILL when neither answers in time. QEMU's exit then finishes the job (on_qemu_exit).
void shutdown_vm(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::shutting_down || st.ph == phase::idle) return;
  st.ph = phase::shutting_down;
  auto gen = ++st.timer_gen;
  self->delayed_send(self, std::chrono::seconds(15), tick_atom_v, gen);
  if (st.agent) {
    call_agent(self, agent::method::shutdown, rpc::pack(agent::empty{}), std::chrono::seconds(10))
        .then([](const std::string&) {},
              [self](caf::error& err) {
                vm_log.warn("container={} agent did not shut down ({}); killing the VM",
                            self->state.short_id(), describe(err));
                kill_qemu(self, SIGKILL);
              });
    return;
  }
  auto qmp = st.run_dir() / "qmp.sock";
  run_job(self, [qmp] { return qmp_command(qmp, "quit", std::chrono::seconds(5)); })
      .then([](const std::string&) {}, [self](caf::error&) { kill_qemu(self, SIGKILL); });
}

void fail_start(self_ptr self, caf::error err) {
  auto& st = self->state;
  if (st.start_error) return;  // the first reason is the one to report
  auto code = code_of(err);
  st.rec.exit_code = code == errc::exec_not_found ? 127 : code == errc::exec_denied ? 126 : 125;
  st.rec.reason = describe(err);
  st.start_error = std::move(err);
  vm_log.warn("container={} failed to start: {}", st.short_id(), st.rec.reason);
  if (st.ph == phase::booting || st.ph == phase::running) shutdown_vm(self);
}

void finish_removal(self_ptr self) {
  auto& st = self->state;
  auto id = st.rec.id;
  auto dir = st.dir();
  auto run = st.run_dir();
  run_job(self, [dir, run]() -> caf::expected<bool> {
    std::error_code ec;
    fs::remove_all(run, ec);
    fs::remove_all(dir, ec);
    if (ec) return make_error(errc::io, "cannot remove " + dir.string() + ": " + ec.message());
    return true;
  }).then([self, id](bool) {
        auto& st = self->state;
        auto done = [self, id] {
          auto& st = self->state;
          if (st.listener) caf::anon_send(st.listener, erase_atom_v, container_atom_v, id);
          for (auto& rp : st.removers) rp.deliver(caf::unit);
          st.removers.clear();
          for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
          st.waiters.clear();
          for (auto& rp : st.starters) rp.deliver(st.removal_reply);
          st.starters.clear();
          vm_log.info("container={} removed", id.substr(0, 12));
          self->quit();
        };
        auto erase = [self, id, done] {
          auto& st = self->state;
          if (!st.store) return done();
          self->request(st.store, caf::infinite, erase_atom_v, container_atom_v, id)
              .then([done] { done(); }, [self, done](caf::error& err) {
                vm_log.error("container={} cannot erase its record: {}", self->state.short_id(), describe(err));
                done();
              });
        };
        // Its leases go with it (before the record, so no lease outlives its container).
        auto nets = st.rec.network_mode == "bridge" ? nets_of(self) : net_supervisor_actor{};
        if (!nets) return erase();
        self->request(nets, std::chrono::seconds(30), release_atom_v, id, std::string{})
            .then([erase] { erase(); }, [self, erase](caf::error& err) {
              vm_log.error("container={} cannot release its addresses: {}", self->state.short_id(), describe(err));
              erase();
            });
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.removing = false;
        for (auto& rp : st.removers) rp.deliver(err);
        st.removers.clear();
        for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
        st.waiters.clear();
        for (auto& rp : st.starters) rp.deliver(st.removal_reply ? st.removal_reply : err);
        st.starters.clear();
      });
}

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
void finish_probe(self_ptr self, int32_t exit_code, std::string why = {}) {
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
              if (st.probe && st.probe->seq == seq) finish_probe(self, -1, "cannot run the health check: " + describe(err));
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

void launch(self_ptr self);

// The container is no longer running: persist that, answer everybody waiting on it, and apply
// `restart` or the restart policy.
void finalize(self_ptr self) {
  auto& st = self->state;
  bool ran_long = st.rec.started > 0 && os::unix_time_ns() - st.rec.started > 10'000'000'000;
  st.ph = phase::idle;
  st.qemu_pid = 0;
  st.rec.qemu_pid = 0;
  st.rec.state = state::exited;
  st.rec.finished = os::unix_time_ns();
  st.cancel = false;
  st.kill_sent = false;
  st.log.reset();
  stop_health(self);
  vm_log.info("container={} exited with {}{}", st.short_id(), st.rec.exit_code,
              st.rec.reason.empty() ? "" : " (" + st.rec.reason + ")");
  auto start_error = std::move(st.start_error);
  st.start_error = caf::error{};
  // A restart the policy made that could not start (a full disk, a host short of memory) is
  // tried again with backoff: what failed may pass. A start someone asked for is answered with
  // its error instead.
  bool by_policy = std::exchange(st.policy_launch, false);
  bool removal_follows = st.rec.auto_remove || !st.removers.empty();
  if (removal_follows && start_error) {
    // `run --rm` of a command that cannot start: answer once the container is gone.
    st.removal_reply = start_error;
  } else {
    for (auto& rp : st.starters) {
      if (start_error) rp.deliver(start_error);
      else rp.deliver(caf::unit);
    }
    st.starters.clear();
  }
  for (auto& rp : st.stoppers) rp.deliver(caf::unit);
  st.stoppers.clear();
  for (auto& sub : st.subscribers) caf::anon_send(sub, end_atom_v, st.rec.id, st.rec.exit_code);
  st.subscribers.clear();
  for (auto& [n, f] : st.followers) {
    f.held.push_back(caf::make_message(end_atom_v, st.rec.id, st.rec.exit_code));
  }
  for (auto& [id, e] : st.execs)
    if (e.subscriber) caf::anon_send(e.subscriber, end_atom_v, id, int32_t{-1});
  st.execs.clear();
  if (removal_follows) {
    // Waiters hear of the exit once the container is gone, so `run --rm` leaves nothing behind
    // by the time it returns.
    persist(self);
    st.removing = true;
    finish_removal(self);
    return;
  }
  bool restart_now = !st.restarters.empty();
  bool policy_restart = !restart_now && (!start_error || by_policy) && !st.daemon_stopping &&
                        restart_wanted(st.policy, st.rec.exit_code, st.rec.restart_count, st.rec.stopped_by_user);
  if (policy_restart) {
    // Counted when it happens (as Docker does), so "exited" with N restarts means no more follow.
    st.backoff_step = ran_long ? 1 : st.backoff_step + 1;
    auto delay = restart_delay(st.backoff_step);
    vm_log.info("container={} restart {} by policy {} in {} ms", st.short_id(), st.rec.restart_count + 1,
                st.rec.restart, delay.count());
    self->delayed_send(self, delay, restart_atom_v, ++st.restart_gen);
  }
  persist(self);
  for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
  st.waiters.clear();
  if (restart_now) {
    st.starters = std::move(st.restarters);
    st.restarters.clear();
    launch(self);
  }
}

// QEMU is gone: record how the container ended, clean up after the VM, answer the waiters.
void on_qemu_exit(self_ptr self, int status) {
  auto& st = self->state;
  ++st.heartbeat_gen;
  // The record, not the phase: a VM killed under a running workload usually closes the agent
  // connection first, and that already moved the phase on to shutting down.
  bool was_running = st.rec.state == state::running || st.rec.state == state::stopping || st.main_exited;
  st.watch.reset();
  if (st.agent) {
    caf::anon_send_exit(st.agent, caf::exit_reason::user_shutdown);
    st.agent = nullptr;
  }
  std::error_code ec;
  fs::remove_all(st.run_dir(), ec);
  unplug(self);
  if (!st.main_exited && !st.start_error && !st.kill_reason.empty()) {
    // berthd killed it: unresponsive, or unreachable once adopted.
    st.rec.exit_code = 137;
    st.rec.reason = std::move(st.kill_reason);
  } else if (!st.main_exited && !st.start_error) {
    // The VM ended under the workload: killed, crashed or powered off from inside.
    st.rec.exit_code = 137;
    st.rec.reason = "the VM exited unexpectedly (QEMU " +
                    (status < 0 ? std::string("status unknown")
                                : status > 128 ? "killed by signal " + std::to_string(status - 128)
                                               : "exit status " + std::to_string(status)) +
                    ")";
    if (!was_running) {
      // QEMU's own complaint (a disk it cannot open) comes first, else the guest's console.
      auto qemu = console_tail(st.dir() / "qemu.log", 4);
      auto tail = console_tail(st.dir() / "console.log", 8);
      st.start_error = make_error(errc::unavailable, st.rec.reason + (!qemu.empty() ? ": " + qemu
                                                                      : tail.empty() ? "" : "; console:\n" + tail));
    }
  }
  finalize(self);
}

// Kills the VM for a reason of berthd's own; QEMU's exit then ends the container with it.
void kill_vm(self_ptr self, std::string why) {
  auto& st = self->state;
  vm_log.warn("container={} {}: killing its VM", st.short_id(), why);
  st.kill_reason = std::move(why);
  ++st.heartbeat_gen;
  kill_qemu(self, SIGKILL);
}

// Pings the agent every heartbeat interval while the container runs. Any answer or
// notification is a sign of life; a guest that gives none for the heartbeat timeout (QEMU
// stopped, the guest or its agent wedged) is unresponsive and its VM is killed, so the
// restart policy decides what follows.
void heartbeat(self_ptr self, uint64_t gen) {
  auto& st = self->state;
  if (gen != st.heartbeat_gen || (st.ph != phase::running && st.ph != phase::stopping)) return;
  auto timeout = st.env->heartbeat_timeout;
  auto interval = heartbeat_interval(timeout);
  auto silent = std::chrono::steady_clock::now() - st.last_answer;
  if (silent > timeout && !st.status_in_flight) {
    // Silent: hung, or paused by QEMU because a write to one of its disks failed for lack of
    // space on the host (werror=enospc keeps the write to retry rather than failing it in the
    // guest). A paused VM is resumed: once there is room its writes go through; while there is
    // none QEMU pauses it again, and the next interval tries again. Anything else is hung.
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(silent).count();
    auto hung = "unresponsive: the guest agent did not answer for " + std::to_string(secs) + " s";
    st.status_in_flight = true;
    run_job(self, [qmp = st.run_dir() / "qmp.sock"]() -> caf::expected<std::string> {
      auto status = qmp_command(qmp, "query-status", std::chrono::seconds(2));
      if (!status) return status.error();
      if (status->find("\"io-error\"") == std::string::npos) return *status;
      if (auto resumed = qmp_command(qmp, "cont", std::chrono::seconds(2)); !resumed) return resumed.error();
      return std::string("io-error");
    }).then(
        [self, gen, hung, timeout, interval](const std::string& status) {
          auto& st = self->state;
          st.status_in_flight = false;
          if (gen != st.heartbeat_gen) return;
          if (status != "io-error") return kill_vm(self, hung);
          if (!st.io_paused)
            vm_log.warn("container={} its VM paused on a disk write error (is the data root full?); resuming it "
                        "every {} ms until the write goes through",
                        st.short_id(), interval.count());
          st.io_paused = true;
          // Checked again after one more interval, not a whole timeout.
          st.last_answer = std::chrono::steady_clock::now() - timeout + interval;
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
              st.last_answer = std::chrono::steady_clock::now();
              if (std::exchange(st.io_paused, false))
                vm_log.info("container={} its VM runs again after a disk write error", st.short_id());
            },
            [self](caf::error&) { self->state.ping_in_flight = false; });
  }
  self->delayed_send(self, interval, ping_atom_v, gen);
}

void start_heartbeat(self_ptr self) {
  auto& st = self->state;
  st.last_answer = std::chrono::steady_clock::now();
  st.ping_in_flight = false;
  auto gen = ++st.heartbeat_gen;
  if (st.env->heartbeat_timeout.count() > 0)
    self->delayed_send(self, heartbeat_interval(st.env->heartbeat_timeout), ping_atom_v, gen);
}

// The workload's mounts as berth-init needs them, numbered as launch_qemu attached them.
agent::mount_spec mount_spec_of(const container_record& rec) {
  agent::mount_spec spec;
  spec.readonly_root = rec.read_only;
  spec.hostname = rec.process.hostname;
  spec.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  std::string nameserver;
  if (rec.network_mode == "bridge" && !rec.endpoints.empty()) {
    auto& e = rec.endpoints.front();
    spec.hosts += e.ip + "\t" + rec.process.hostname + (rec.name != rec.process.hostname ? " " + rec.name : "") + "\n";
    nameserver = e.gateway;  // the network's DNS responder (empty on an internal network)
  } else if (rec.network_mode == "user") {
    spec.hosts += "10.0.2.15\t" + rec.process.hostname + "\n";
    nameserver = "10.0.2.3";  // QEMU's user-mode resolver
  } else {
    spec.hosts += "127.0.1.1\t" + rec.process.hostname + "\n";
  }
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
            call_agent(self, agent::method::start, rpc::pack(st.rec.process))
                .then(
                    [self](const std::string& packed) {
                      auto& st = self->state;
                      if (st.ph != phase::booting) return;
                      auto started = rpc::unpack_as<agent::process_started>(packed);
                      st.ph = phase::running;
                      st.rec.state = state::running;
                      st.rec.started = os::unix_time_ns();
                      vm_log.info("container={} running (guest pid {}, qemu pid {})", st.short_id(),
                                  started.pid, st.qemu_pid);
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
  agent::network_config cfg;
  if (st.rec.network_mode == "bridge") {
    for (auto& e : st.rec.endpoints) {
      agent::interface_config i;
      i.mac = e.mac;
      i.address = e.ip;
      i.prefix_len = e.prefix_len;
      i.gateway = e.gateway;
      cfg.interfaces.push_back(i);
    }
  } else if (st.rec.network_mode == "user") {
    agent::interface_config i;
    i.mac = user_mode_mac(st.rec.id);
    i.address = "10.0.2.15";
    i.prefix_len = 24;
    i.gateway = "10.0.2.2";
    cfg.interfaces.push_back(i);
  }
  call_agent(self, agent::method::configure_network, rpc::pack(cfg))
      .then(
          [self](const std::string&) {
            if (self->state.ph != phase::booting) return;
            start_workload(self);
          },
          [self](caf::error& err) {
            fail_start(self, make_error(code_of(err), "cannot configure the guest's network: " + describe(err)));
          });
}

// The agent connection is up: ask for the agent's version (the guest is ready when it answers),
// then mount the root and start the workload.
void handshake(self_ptr self, int fd, std::chrono::steady_clock::time_point started) {
  auto& st = self->state;
  st.agent = spawn_agent_session(self->home_system(), fd, caf::actor_cast<caf::actor>(self));
  agent::version_request req;
  req.host_time_ns = os::unix_time_ns();
  call_agent(self, agent::method::version, rpc::pack(req), st.env->boot_timeout)
      .then(
          [self, started](const std::string& packed) {
            auto& st = self->state;
            if (st.ph != phase::booting) return;
            auto info = rpc::unpack_as<agent::version_info>(packed);
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
            vm_log.info("container={} guest up in {} ms: {} on {}, {}", st.short_id(), ms,
                        info.agent, info.kernel, info.transport);
            if (info.protocol != agent::protocol_version)
              return fail_start(self, make_error(errc::unsupported,
                                                 "guest agent speaks protocol " +
                                                     std::to_string(info.protocol) + ", berthd " +
                                                     std::to_string(agent::protocol_version)));
            configure_network(self);
          },
          [self](caf::error& err) {
            if (code_of(err) == errc::timeout)
              err = make_error(errc::timeout, "the VM did not boot within " +
                                                  std::to_string(self->state.env->boot_timeout.count()) +
                                                  " ms (see berth logs --boot)");
            fail_start(self, std::move(err));
          });
}

// Watches QEMU `pid` and tells this actor when it ends. Reaped if it is our child; waitpid on
// another's (a QEMU adopted from a berthd that died) fails at once and the status is unknown.
void watch_qemu(self_ptr self, pid_t pid) {
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.watch = std::make_unique<process_watch>(pid, true, [handle, pid](int status) {
    caf::anon_send(handle, exited_atom_v, static_cast<int64_t>(pid), static_cast<int32_t>(status));
  });
}

void on_launched(self_ptr self, int64_t pid) {
  auto& st = self->state;
  st.qemu_pid = static_cast<pid_t>(pid);
  st.rec.qemu_pid = pid;
  watch_qemu(self, st.qemu_pid);
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
  auto started = std::chrono::steady_clock::now();
  if (st.env->transport != "vsock") {
    // The unix socket was bound before QEMU started: connect now; QEMU holds what we send
    // until the guest opens its port.
    auto fd = connect_unix(st.run_dir() / "agent.sock");
    if (!fd) return fail_start(self, fd.error());
    return handshake(self, *fd, started);
  }
  // vsock: nothing listens until berth-init is up, so a job retries until then.
  run_job(self, [cid = st.rec.vsock_cid, pid = st.qemu_pid, timeout = st.env->boot_timeout]() -> caf::expected<int> {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto fd = connect_vsock(cid, agent::vsock_port);
      if (fd) return fd;
      if (!os::process_alive(pid)) return make_error(errc::unavailable, "the VM exited while booting");
      if (std::chrono::steady_clock::now() > deadline) return make_error(errc::timeout, describe(fd.error()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }).then([self, started](int fd) {
        if (self->state.ph != phase::booting) {
          ::close(fd);
          return;
        }
        handshake(self, fd, started);
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
  if (st.env->transport == "vsock") st.rec.vsock_cid = random_vsock_cid();
  st.nics.clear();
  st.rec.published.clear();
  auto failed = [self](caf::error err) {
    unplug(self);
    fail_start(self, std::move(err));  // no VM was started: nothing to shut down
    finalize(self);
  };
  auto start_qemu = [self, failed] {
    auto& st = self->state;
    persist(self);
    run_job(self, [env = st.env, rec = st.rec, nics = st.nics] { return launch_qemu(*env, rec, nics); })
        .then([self](int64_t pid) { on_launched(self, pid); }, [failed](caf::error& err) { failed(std::move(err)); });
  };
  if (st.rec.network_mode == "user") {
    net_device nic;
    nic.mac = user_mode_mac(st.rec.id);
    for (auto m : st.rec.ports) {
      if (m.host_port == 0) {
        auto p = free_port(m.host_ip, m.protocol);
        if (!p) return failed(p.error());
        m.host_port = *p;
      } else if (!port_free(m.host_ip, m.host_port, m.protocol)) {
        return failed(make_error(errc::conflict, "host port " + (m.host_ip.empty() ? std::string("0.0.0.0") : m.host_ip) +
                                                     ":" + std::to_string(m.host_port) + "/" + m.protocol +
                                                     " is already in use"));
      }
      nic.hostfwd.push_back(m.protocol + ":" + m.host_ip + ":" + std::to_string(m.host_port) + "-:" +
                            std::to_string(m.container_port));
      st.rec.published.push_back(m);
    }
    st.nics.push_back(std::move(nic));
    return start_qemu();
  }
  if (st.rec.network_mode != "bridge" || st.rec.endpoints.empty()) return start_qemu();
  auto nets = nets_of(self);
  if (!nets) return failed(make_error(errc::unavailable, "the network service is not running"));
  // Saved as starting before its taps exist: a berthd killed from here on finds the record
  // live and cleans up after it.
  persist(self);
  self->request(nets, std::chrono::seconds(60), plug_atom_v, st.rec.id, st.rec.endpoints, st.rec.ports)
      .then(
          [self, nets, start_qemu, failed](std::vector<std::string>& taps, std::vector<api::port_mapping>& ports) {
            auto& st = self->state;
            st.plugged = true;
            if (taps.size() != st.rec.endpoints.size())
              return failed(make_error(errc::internal, "plug answered " + std::to_string(taps.size()) + " taps for " +
                                                           std::to_string(st.rec.endpoints.size()) + " endpoints"));
            if (st.cancel) return failed(make_error(errc::cancelled, "stopped before it started"));
            for (std::size_t i = 0; i < taps.size(); ++i) st.nics.push_back({taps[i], st.rec.endpoints[i].mac, {}});
            st.rec.published = std::move(ports);
            watch_nets(self, nets);
            start_qemu();
          },
          [self, failed](caf::error& err) {
            self->state.plugged = true;  // whatever a failed plug left is undone by it; unplug is harmless
            failed(std::move(err));
          });
}

// The main process exited (told by its `exit` notification, or by the answer to `wait` after an
// adoption, whichever comes first): the VM goes down and the container with it.
void main_exit(self_ptr self, const agent::exit_status& status) {
  auto& st = self->state;
  if (st.main_exited) return;
  st.main_exited = true;
  st.rec.exit_code = status.exit_code;
  st.rec.reason = status.signal ? "killed by signal " + std::to_string(status.signal) : "";
  vm_log.info("container={} main process exited with {}", st.short_id(), status.exit_code);
  shutdown_vm(self);
}

void on_notice(self_ptr self, const std::string& method, const std::string& packed) {
  auto& st = self->state;
  st.last_answer = std::chrono::steady_clock::now();
  if (method == agent::notice::output) {
    auto chunk = rpc::unpack_as<agent::output_chunk>(packed);
    auto time = os::unix_time_ns();
    if (st.probe && chunk.id == st.probe->id) {
      append_health_output(st.probe->output, chunk.data.data(), chunk.data.size());
      return;
    }
    if (chunk.id != st.rec.process.id) {
      auto it = st.execs.find(chunk.id);
      if (it != st.execs.end() && it->second.subscriber)
        caf::anon_send(it->second.subscriber, output_atom_v, chunk.id, chunk.fd, time, chunk.data);
      return;
    }
    append_log(st, time, chunk.fd, chunk.data);
    for (auto& sub : st.subscribers) caf::anon_send(sub, output_atom_v, st.rec.id, chunk.fd, time, chunk.data);
    for (auto& [n, f] : st.followers)
      f.held.push_back(caf::make_message(output_atom_v, st.rec.id, chunk.fd, time, chunk.data));
  } else if (method == agent::notice::exit) {
    auto status = rpc::unpack_as<agent::exit_status>(packed);
    if (st.probe && status.id == st.probe->id) return finish_probe(self, status.exit_code);
    if (status.id != st.rec.process.id) {
      auto it = st.execs.find(status.id);
      if (it == st.execs.end()) return;
      if (it->second.subscriber) caf::anon_send(it->second.subscriber, end_atom_v, status.id, status.exit_code);
      vm_log.debug("container={} exec {} exited with {}", st.short_id(), status.id, status.exit_code);
      st.execs.erase(it);
      return;
    }
    main_exit(self, status);
  }
}

void send_signal(self_ptr self, int sig) {
  auto& st = self->state;
  if (!st.agent) return;
  agent::signal_request req{st.rec.process.id, sig};
  call_agent(self, agent::method::signal, rpc::pack(req), std::chrono::seconds(10))
      .then([](const std::string&) {},
            [self, sig](caf::error& err) {
              vm_log.warn("container={} signal {} not delivered: {}", self->state.short_id(), sig, describe(err));
              if (sig == SIGKILL) shutdown_vm(self);
            });
}

// The running container goes to stopping: `signal` (0: its stop signal, else SIGTERM) now,
// SIGKILL after `timeout` seconds (none when negative).
void begin_stop(self_ptr self, int32_t timeout, int signal) {
  auto& st = self->state;
  st.ph = phase::stopping;
  st.rec.state = state::stopping;
  int sig = signal ? signal : parse_signal(st.rec.stop_signal);
  send_signal(self, sig ? sig : SIGTERM);
  if (timeout >= 0) {
    auto gen = ++st.timer_gen;
    self->delayed_send(self, std::chrono::seconds(timeout), tick_atom_v, gen);
  }
}

// Stops the running container: its stop signal, SIGKILL after `timeout` seconds.
caf::result<void> stop_container(self_ptr self, int32_t timeout, bool by_user, int32_t signal = 0) {
  auto& st = self->state;
  if (by_user) {
    st.rec.stopped_by_user = true;
    ++st.restart_gen;  // a pending policy restart is off
  }
  if (st.ph == phase::idle) {
    if (by_user) persist(self);
    return caf::unit;
  }
  if (timeout == -2) timeout = st.rec.stop_timeout;
  auto rp = self->make_response_promise();
  st.stoppers.push_back(rp);
  if (st.ph == phase::running) {
    begin_stop(self, timeout, signal);
    persist(self);
  } else if (st.ph == phase::booting) {
    fail_start(self, make_error(errc::cancelled, "stopped before it started"));
  } else if (st.ph == phase::launching) {
    st.cancel = true;  // on_launched ends the VM as soon as QEMU is there
  }
  return rp;
}

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

caf::error not_running(const vm_state& st) {
  return make_error(errc::conflict, "container " + st.rec.name + " is not running");
}

// Host RSS of a process in bytes, from /proc (0 when gone).
uint64_t rss_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// The file calls of berth cp need the guest's agent, so a VM that runs.
caf::error files_unavailable(const vm_state& st) {
  return make_error(errc::conflict, "container " + st.rec.name + " is not running; berth cp needs its VM");
}

// A file of the guest as the API shows it. The guest is not trusted: an unknown type is "other".
api::file_info to_api(agent::file_info&& f) {
  api::file_info out;
  out.path = std::move(f.path);
  out.type = f.type == "file" || f.type == "dir" || f.type == "symlink" ? std::move(f.type) : "other";
  out.mode = f.mode & 07777;
  out.uid = f.uid;
  out.gid = f.gid;
  out.size = f.size;
  out.mtime_ns = f.mtime_ns;
  out.link = std::move(f.link);
  return out;
}

// Whether `name` is one path component, as a directory entry must be (clients join it to paths).
bool entry_name_ok(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Sends a file call to the agent and answers `convert(packed answer)`; an answer of the wrong
// shape is a protocol error for this call (the guest is not trusted), not a crash of the actor.
template <class Result, class Convert>
caf::result<Result> file_call(self_ptr self, std::string_view method, std::string packed, Convert convert) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return files_unavailable(st);
  auto rp = self->make_response_promise<Result>();
  call_agent(self, method, std::move(packed))
      .then(
          [self, rp, convert, method = std::string(method)](const std::string& answer) mutable {
            try {
              rp.deliver(convert(answer));
            } catch (const rpc::call_error& e) {
              vm_log.warn("container={} malformed {} answer from the agent: {}", self->state.short_id(), method,
                          e.what());
              rp.deliver(make_error(errc::protocol, "the guest agent answered " + method + " with " + e.what()));
            }
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// A file call whose answer is empty.
caf::result<void> file_change(self_ptr self, std::string_view method, std::string packed) {
  auto& st = self->state;
  if (st.ph != phase::running || !st.agent) return files_unavailable(st);
  auto rp = self->make_response_promise();
  call_agent(self, method, std::move(packed))
      .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

agent::file_info agent_spec(const api::file_spec& spec) {
  agent::file_info f;
  f.path = spec.path;
  f.mode = spec.mode & 07777;
  f.uid = spec.uid;
  f.gid = spec.gid;
  f.mtime_ns = spec.mtime_ns;
  f.link = spec.link;
  return f;
}

vm_impl::behavior_type vm_behavior(self_ptr self, std::shared_ptr<const vm_environment> env,
                                   container_record rec, store_actor store, caf::actor listener) {
  // A handler that throws crashes the actor with the exception's text; the vm supervisor
  // restarts it from the record, and the new actor adopts the VM.
  self->set_exception_handler(crash_error);
  auto& st = self->state;
  st.env = std::move(env);
  st.rec = std::move(rec);
  st.store = std::move(store);
  st.listener = std::move(listener);
  if (auto p = parse_restart_policy(st.rec.restart)) st.policy = *p;
  bool was_live = st.rec.state != state::created && st.rec.state != state::exited;
  bool adoptable = (st.rec.state == state::running || st.rec.state == state::stopping) &&
                   is_our_qemu(static_cast<pid_t>(st.rec.qemu_pid), st.dir());
  if (was_live && adoptable) {
    adopt(self);
  } else if (was_live) {
    mark_lost(self);
  } else if ((st.policy.name == "always" || (st.policy.name == "unless-stopped" && !st.rec.stopped_by_user)) &&
             st.rec.state == state::exited) {
    // always, and unless-stopped unless the user stopped it, come back with berthd.
    self->send(self, restart_atom_v, ++st.restart_gen);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source && msg.source == st.plugged_into) {
      st.plugged_into = caf::actor_addr{};
      // A clean stop of berthd takes the net supervisor down too, and this actor with it.
      if (st.plugged && (st.ph == phase::running || st.ph == phase::stopping) && !st.daemon_stopping)
        self->delayed_send(self, std::chrono::milliseconds(100), plug_atom_v, ++st.replug_gen);
      return;
    }
    auto& subs = st.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == msg.source; }),
               subs.end());
  });
  return {
      [self](start_atom) -> caf::result<void> {
        auto& st = self->state;
        if (st.removing) return make_error(errc::conflict, "container is being removed");
        if (st.ph != phase::idle) {
          if (st.ph == phase::launching || st.ph == phase::booting) {
            auto rp = self->make_response_promise();
            st.starters.push_back(rp);
            return rp;
          }
          return caf::unit;  // already running: docker start is a no-op then
        }
        st.rec.stopped_by_user = false;
        st.rec.restart_count = 0;
        st.backoff_step = 0;
        ++st.restart_gen;
        auto rp = self->make_response_promise();
        st.starters.push_back(rp);
        launch(self);
        return rp;
      },
      [self](stop_atom, int32_t timeout, int32_t signal) -> caf::result<void> {
        return stop_container(self, timeout, true, signal);
      },
      [self](shutdown_atom) -> caf::result<void> {
        self->state.daemon_stopping = true;
        return stop_container(self, -2, false);
      },
      [self](restart_atom, int32_t timeout) -> caf::result<void> {
        auto& st = self->state;
        if (st.removing) return make_error(errc::conflict, "container is being removed");
        auto rp = self->make_response_promise();
        if (st.ph == phase::idle) {
          st.rec.stopped_by_user = false;
          st.rec.restart_count = 0;
          ++st.restart_gen;
          st.starters.push_back(rp);
          launch(self);
          return rp;
        }
        st.restarters.push_back(rp);
        stop_container(self, timeout, false);
        return rp;
      },
      [self](wait_atom) -> caf::result<api::exit_info> {
        auto& st = self->state;
        if (st.ph == phase::idle && st.rec.state != state::created)
          return api::exit_info{st.rec.exit_code, st.rec.reason};
        auto rp = self->make_response_promise();
        st.waiters.push_back(rp);
        return rp;
      },
      [self](inspect_atom) { return self->state.rec; },
      [self](attach_atom, caf::actor sub) -> caf::result<void> {
        auto& st = self->state;
        self->monitor(sub);
        st.subscribers.push_back(std::move(sub));
        return caf::unit;
      },
      [self](detach_atom, const caf::actor& sub) {
        auto& subs = self->state.subscribers;
        subs.erase(std::remove(subs.begin(), subs.end(), sub), subs.end());
      },
      [self](logs_atom, caf::actor sub, const api::logs_request& req) -> caf::result<void> {
        auto& st = self->state;
        auto id = st.rec.id;
        auto dir = st.dir();
        auto rp = self->make_response_promise();
        bool follow = req.follow && st.live() && !req.boot;
        uint64_t limit = UINT64_MAX;
        uint64_t key = 0;
        if (follow) {
          // Live output from now on is held for this follower until the stored part is sent.
          limit = st.log_size;
          key = st.next_follower++;
          st.followers[key] = follower{sub, {}};
        }
        run_job(self, [dir, id, sub, req, limit, follow]() -> caf::expected<bool> {
          if (req.boot) {
            std::string console;
            try {
              console = os::read_file(dir / "console.log", 64u << 20);
            } catch (const std::system_error&) {
            }
            for (std::size_t off = 0; off < console.size(); off += 64 * 1024) {
              auto piece = console.substr(off, 64 * 1024);
              caf::anon_send(sub, output_atom_v, id, uint8_t{1}, int64_t{0},
                             std::vector<char>(piece.begin(), piece.end()));
            }
          } else {
            for (auto& r : tail_lines(read_log(dir, limit), req.tail))
              caf::anon_send(sub, output_atom_v, id, r.fd, r.time, std::move(r.data));
          }
          if (!follow) caf::anon_send(sub, end_atom_v, id, int32_t{-1});
          return true;
        }).then([self, rp, key](bool) mutable {
                  auto& st = self->state;
                  if (auto it = st.followers.find(key); key != 0 && it != st.followers.end()) {
                    // Caught up: release what came meanwhile and go live (or end, if it exited).
                    bool ended = false;
                    for (auto& m : it->second.held) {
                      ended = ended || m.match_element<end_atom>(0);
                      caf::anon_send(it->second.subscriber, std::move(m));
                    }
                    if (!ended) {
                      self->monitor(it->second.subscriber);
                      st.subscribers.push_back(it->second.subscriber);
                    }
                    st.followers.erase(it);
                  }
                  rp.deliver(caf::unit);
                },
                [self, rp, key](caf::error& err) mutable {
                  self->state.followers.erase(key);
                  rp.deliver(err);
                });
        return rp;
      },
      [self](exec_atom, const api::exec_request& req, caf::actor sub) -> caf::result<std::string> {
        auto& st = self->state;
        if (st.ph != phase::running || !st.agent) return not_running(st);
        if (req.cmd.empty()) return make_error(errc::invalid_argument, "no command given to exec");
        agent::process_spec p;
        p.id = "exec-" + os::random_hex(6);
        p.args = req.cmd;
        p.env = st.rec.process.env;
        for (auto& e : req.env) {
          auto key = e.substr(0, e.find('='));
          std::erase_if(p.env, [&](const std::string& x) { return x.substr(0, x.find('=')) == key; });
          if (e.find('=') != std::string::npos) p.env.push_back(e);
        }
        p.cwd = req.workdir.empty() ? st.rec.process.cwd : req.workdir;
        p.user = req.user.empty() ? st.rec.process.user : req.user;
        p.terminal = req.tty;
        p.open_stdin = req.open_stdin;
        p.rows = req.rows;
        p.cols = req.cols;
        p.join = st.rec.process.id;
        if (req.tty && std::none_of(p.env.begin(), p.env.end(), [](auto& e) { return e.rfind("TERM=", 0) == 0; }))
          p.env.push_back("TERM=xterm");
        // Registered before the call: output may come before the answer.
        st.execs[p.id] = exec_entry{sub};
        auto rp = self->make_response_promise<std::string>();
        call_agent(self, agent::method::start, rpc::pack(p))
            .then([rp, id = p.id](const std::string&) mutable { rp.deliver(id); },
                  [self, rp, id = p.id](caf::error& err) mutable {
                    self->state.execs.erase(id);
                    rp.deliver(std::move(err));
                  });
        return rp;
      },
      [self](stdin_atom, const std::string& process, std::vector<char>& data) -> caf::result<void> {
        auto& st = self->state;
        if (!st.agent || st.ph == phase::idle) return not_running(st);
        auto id = process == st.rec.id ? st.rec.process.id : process;
        auto rp = self->make_response_promise();
        call_agent(self, agent::method::stdin_data, rpc::pack(agent::stdin_chunk{id, std::move(data)}))
            .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](eof_atom, const std::string& process) -> caf::result<void> {
        auto& st = self->state;
        if (!st.agent || st.ph == phase::idle) return caf::unit;
        auto id = process == st.rec.id ? st.rec.process.id : process;
        auto rp = self->make_response_promise();
        call_agent(self, agent::method::close_stdin, rpc::pack(agent::process_ref{id}))
            .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](resize_atom, const std::string& process, uint16_t rows, uint16_t cols) -> caf::result<void> {
        auto& st = self->state;
        if (!st.agent || st.ph == phase::idle) return caf::unit;
        auto id = process == st.rec.id ? st.rec.process.id : process;
        auto rp = self->make_response_promise();
        call_agent(self, agent::method::resize, rpc::pack(agent::resize_request{id, rows, cols}))
            .then([rp](const std::string&) mutable { rp.deliver(caf::unit); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](kill_atom, int32_t sig) -> caf::result<void> {
        auto& st = self->state;
        if (st.ph != phase::running && st.ph != phase::stopping) return not_running(st);
        st.rec.stopped_by_user = true;
        ++st.restart_gen;
        persist(self);
        send_signal(self, sig);
        return caf::unit;
      },
      [self](stats_atom) -> caf::result<api::container_stats> {
        auto& st = self->state;
        if (st.ph != phase::running || !st.agent) return not_running(st);
        auto rp = self->make_response_promise<api::container_stats>();
        call_agent(self, agent::method::stats, rpc::pack(agent::empty{}), std::chrono::seconds(10))
            .then(
                [self, rp](const std::string& packed) mutable {
                  auto& st = self->state;
                  auto s = rpc::unpack_as<agent::vm_stats>(packed);
                  api::container_stats out;
                  out.id = st.rec.id;
                  out.name = st.rec.name;
                  out.cpu_ns = s.cpu_ns;
                  out.cpus = s.cpus;
                  out.memory_used = s.memory_used;
                  out.memory_limit = s.memory_total;
                  out.host_rss = rss_of(st.qemu_pid);
                  for (auto& d : s.disks) {
                    if (d.name == "image") continue;  // the shared, read-only image disk
                    out.block_read += d.read_bytes;
                    out.block_write += d.write_bytes;
                  }
                  for (auto& n : s.networks) {
                    out.net_rx += n.read_bytes;
                    out.net_tx += n.write_bytes;
                  }
                  out.pids = s.pids;
                  out.time = os::unix_time_ns();
                  rp.deliver(std::move(out));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [](crash_atom) { throw std::runtime_error("a crash injected by debug.crash"); },
      [self](ping_atom) -> caf::result<api::ping_result> {
        auto& st = self->state;
        if (st.ph != phase::running || !st.agent) return not_running(st);
        auto rp = self->make_response_promise<api::ping_result>();
        auto sent = std::chrono::steady_clock::now();
        call_agent(self, agent::method::ping, rpc::pack(agent::empty{}), std::chrono::seconds(10))
            .then(
                [rp, sent](const std::string&) mutable {
                  auto rtt = std::chrono::steady_clock::now() - sent;
                  rp.deliver(api::ping_result{static_cast<uint64_t>(
                      std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count())});
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](file_atom, const api::file_ref& ref) -> caf::result<api::file_info> {
        return file_call<api::file_info>(self, agent::method::stat, rpc::pack(agent::path_request{ref.path}),
                                         [](const std::string& answer) {
                                           return to_api(rpc::unpack_as<agent::file_info>(answer));
                                         });
      },
      [self](file_atom, list_atom, const api::file_ref& ref) -> caf::result<std::vector<api::file_info>> {
        return file_call<std::vector<api::file_info>>(
            self, agent::method::list, rpc::pack(agent::path_request{ref.path}),
            [self, path = ref.path](const std::string& answer) {
              std::vector<api::file_info> out;
              for (auto& f : rpc::unpack_as<std::vector<agent::file_info>>(answer)) {
                if (!entry_name_ok(f.path)) {
                  vm_log.warn("container={} the agent listed a bad entry name in {}; dropped it",
                              self->state.short_id(), path);
                  continue;
                }
                out.push_back(to_api(std::move(f)));
              }
              return out;
            });
      },
      [self](file_atom, read_atom, const api::file_read_request& req) -> caf::result<api::file_data> {
        agent::read_request r;
        r.path = req.path;
        r.offset = req.offset;
        r.length = std::min(req.length, api::max_file_chunk);
        return file_call<api::file_data>(self, agent::method::read, rpc::pack(r),
                                         [length = r.length](const std::string& answer) {
                                           auto got = rpc::unpack_as<agent::read_result>(answer);
                                           if (got.data.size() > length)
                                             throw rpc::call_error(errc::protocol, "more bytes than asked for");
                                           return api::file_data{std::move(got.data), got.eof};
                                         });
      },
      [self](file_atom, write_atom, api::file_write_request& req) -> caf::result<void> {
        if (req.data.size() > api::max_file_chunk)
          return make_error(errc::invalid_argument, "file writes are at most 1 MiB");
        agent::write_request w;
        w.path = std::move(req.path);
        w.offset = req.offset;
        w.data = std::move(req.data);
        w.create = req.create;
        w.mode = req.mode & 07777;
        w.uid = req.uid;
        w.gid = req.gid;
        return file_change(self, agent::method::write, rpc::pack(w));
      },
      [self](file_atom, mkdir_atom, const api::file_spec& spec) -> caf::result<void> {
        return file_change(self, agent::method::mkdir, rpc::pack(agent_spec(spec)));
      },
      [self](file_atom, symlink_atom, const api::file_spec& spec) -> caf::result<void> {
        return file_change(self, agent::method::symlink, rpc::pack(agent_spec(spec)));
      },
      [self](file_atom, touch_atom, const api::file_spec& spec) -> caf::result<void> {
        return file_change(self, agent::method::set_times, rpc::pack(agent_spec(spec)));
      },
      [self](remove_atom, bool force) -> caf::result<void> {
        auto& st = self->state;
        // Errors are returned before a promise exists: once a handler made one, CAF sends only
        // what the promise delivers.
        if (st.ph != phase::idle && !force)
          return make_error(errc::conflict, "container " + st.rec.name +
                                                " is running: stop it first or remove it with -f");
        auto rp = self->make_response_promise();
        st.removers.push_back(rp);
        ++st.restart_gen;
        if (st.ph != phase::idle) {
          st.removing = true;
          if (st.ph == phase::launching) {
            st.cancel = true;  // on_launched ends the VM
          } else {
            st.kill_reason = "killed by a forced removal";
            kill_qemu(self, SIGKILL);
          }
          return rp;
        }
        if (!st.removing) {
          st.removing = true;
          finish_removal(self);
        }
        return rp;
      },
      [self](notice_atom, const std::string& method, const std::string& packed) {
        try {
          on_notice(self, method, packed);
        } catch (const rpc::call_error& e) {
          vm_log.warn("container={} bad {} notice from the agent: {}", self->state.short_id(), method, e.what());
        }
      },
      [self](closed_atom, const std::string& why) {
        auto& st = self->state;
        vm_log.debug("container={} agent connection closed: {}", st.short_id(), why);
        st.agent = nullptr;
        // With the agent gone nothing can be asked of the guest; QEMU's exit follows, or the
        // shutdown timer kills it.
        if (st.ph == phase::running || st.ph == phase::stopping) shutdown_vm(self);
      },
      [self](exited_atom, int64_t pid, int32_t status) {
        if (pid != self->state.qemu_pid) return;
        on_qemu_exit(self, status);
      },
      [self](tick_atom, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.timer_gen) return;
        if (st.ph == phase::stopping && !st.kill_sent) {
          vm_log.info("container={} did not stop in time: SIGKILL", st.short_id());
          st.kill_sent = true;
          send_signal(self, SIGKILL);
          auto next = ++st.timer_gen;
          self->delayed_send(self, std::chrono::seconds(5), tick_atom_v, next);
        } else if (st.ph == phase::stopping) {
          shutdown_vm(self);  // the agent did not deliver SIGKILL either
        } else if (st.ph == phase::shutting_down) {
          vm_log.warn("container={} VM did not power off: SIGKILL to QEMU", st.short_id());
          kill_qemu(self, SIGKILL);
        }
      },
      [self](restart_atom, uint64_t gen) {
        auto& st = self->state;
        if (gen != st.restart_gen || st.ph != phase::idle || st.removing) return;
        ++st.rec.restart_count;
        st.policy_launch = true;
        launch(self);
      },
      [self](ping_atom, uint64_t gen) { heartbeat(self, gen); },
      [self](plug_atom, uint64_t gen) { replug(self, gen); },
      [self](health_atom, uint64_t gen) { run_probe(self, gen); },
      [self](expire_atom, uint64_t seq) { expire_probe(self, seq); },
  };
}

}  // namespace

vm_actor spawn_vm(caf::local_actor* parent, std::shared_ptr<const vm_environment> env,
                  container_record record, store_actor store, caf::actor listener) {
  vm_impl impl = parent->spawn(vm_behavior, std::move(env), std::move(record), std::move(store),
                               std::move(listener));
  return impl;
}

}  // namespace berth::vm
