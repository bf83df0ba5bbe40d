// vm_actor.cpp: the container state machine around one QEMU process.
#include "berth/vm/vm_actor.hpp"

#include "agent_session.hpp"
#include "process_watch.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/os.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/container.hpp"
#include "berth/vm/qemu.hpp"

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

#include <chrono>
#include <thread>

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
    caf::reacts_to<tick_atom, uint64_t>>;

enum class phase { idle, launching, booting, running, stopping, shutting_down };

struct vm_state {
  std::shared_ptr<const vm_environment> env;
  container_record rec;
  store_actor store;
  caf::actor listener;
  caf::actor agent;
  std::unique_ptr<process_watch> watch;
  pid_t qemu_pid = 0;
  phase ph = phase::idle;
  caf::response_promise start_rp;
  caf::error start_error;  ///< Why start failed, answered once the VM is gone.
  std::vector<caf::response_promise> waiters;
  std::vector<caf::response_promise> stoppers;
  std::vector<caf::response_promise> removers;
  std::vector<caf::actor> subscribers;
  uint64_t timer_gen = 0;
  bool main_exited = false;
  bool removing = false;
  bool cancel = false;     ///< Stop or remove asked for while QEMU was being started.
  bool kill_sent = false;  ///< The stop timeout passed and SIGKILL went to the workload.
  os::unique_fd log;  ///< container.log, open while the container runs.

  ~vm_state() {
    // The actor is ending: stop watching (the VM lives on), drop the agent connection.
    watch.reset();
    if (agent) caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
  }

  fs::path dir() const { return env->container_dir(rec.id); }
  fs::path run_dir() const { return env->run_dir(rec.id); }

  static inline const char* name = "vm";
};

using self_ptr = vm_impl::stateful_pointer<vm_state>;

void persist(self_ptr self) {
  auto& st = self->state;
  if (st.store)
    self->request(st.store, caf::infinite, save_atom_v, st.rec)
        .then([] {}, [id = st.rec.id](caf::error& err) {
          vm_log.error("container={} cannot save its record: {}", id.substr(0, 12), describe(err));
        });
  if (st.listener) caf::anon_send(st.listener, save_atom_v, st.rec);
}

// Appends one output record ([time ns, fd, bytes] as msgpack) to container.log.
void append_log(vm_state& st, int64_t time, uint8_t fd, const std::vector<char>& data) {
  if (!st.log) return;
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(3);
  pk.pack_int64(time);
  pk.pack_uint8(fd);
  pk.pack_bin(static_cast<uint32_t>(data.size()));
  pk.pack_bin_body(data.data(), static_cast<uint32_t>(data.size()));
  if (::write(st.log.get(), buf.data.data(), buf.data.size()) < 0)
    vm_log.warn("container={} cannot write its log: {}", st.rec.id.substr(0, 12), std::strerror(errno));
}

// Runs on a job thread: container disk, run directory, sockets, QEMU. Returns QEMU's pid.
caf::expected<int64_t> launch_qemu(const vm_environment& env, const container_record& rec) {
  std::error_code ec;
  auto dir = env.container_dir(rec.id);
  auto run = env.run_dir(rec.id);
  fs::create_directories(dir, ec);
  if (!ec) fs::create_directories(run, ec);
  if (ec) return make_error(errc::io, "cannot create container directories: " + ec.message());
  ::chmod(run.c_str(), 0700);
  auto disk = dir / "rootfs.ext4";
  if (!fs::exists(disk)) {
    // A sparse file: mkfs.ext4 punches holes as it goes, so a 10 GiB disk costs a few MB.
    auto tmp = dir / "rootfs.ext4.tmp";
    {
      os::unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(env.disk_size)) != 0)
        return make_error(errc::io, "cannot create " + tmp.string() + ": " + std::strerror(errno));
    }
    auto r = os::run({"mkfs.ext4", "-q", "-F", "-m", "0", "-L", "berth-rootfs", tmp.string()},
                     std::chrono::seconds(60));
    if (r.exit_code != 0) {
      fs::remove(tmp, ec);
      return make_error(errc::io, "mkfs.ext4 failed: " + r.errors);
    }
    os::unique_fd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) ::fsync(fd.get());
    fs::rename(tmp, disk, ec);
    if (ec) return make_error(errc::io, "cannot rename " + tmp.string() + ": " + ec.message());
    os::fsync_dir(dir);
  }
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
  os::unique_fd out(::open((dir / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
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

// Ends the VM: a clean shutdown through the agent when there is one, QMP quit when not, and
// SIGKILL when neither answers in time. QEMU's exit then finishes the job (on_qemu_exit).
void shutdown_vm(self_ptr self) {
  auto& st = self->state;
  if (st.ph == phase::shutting_down || st.ph == phase::idle) return;
  st.ph = phase::shutting_down;
  auto gen = ++st.timer_gen;
  self->delayed_send(self, std::chrono::seconds(15), tick_atom_v, gen);
  if (st.agent) {
    self->request(st.agent, std::chrono::seconds(10), call_atom_v,
                  std::string(agent::method::shutdown), rpc::pack(agent::empty{}))
        .then([](const std::string&) {},
              [self](caf::error& err) {
                vm_log.warn("container={} agent did not shut down ({}); killing the VM",
                            self->state.rec.id.substr(0, 12), describe(err));
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
  vm_log.warn("container={} failed to start: {}", st.rec.id.substr(0, 12), st.rec.reason);
  if (st.ph == phase::launching || st.ph == phase::idle) return;  // no VM to end
  if (st.ph == phase::booting) shutdown_vm(self);
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
          vm_log.info("container={} removed", id.substr(0, 12));
          self->quit();
        };
        if (!st.store) return done();
        self->request(st.store, caf::infinite, erase_atom_v, container_atom_v, id)
            .then([done] { done(); }, [self, done](caf::error& err) {
              vm_log.error("container={} cannot erase its record: {}", self->state.rec.id.substr(0, 12),
                           describe(err));
              done();
            });
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.removing = false;
        for (auto& rp : st.removers) rp.deliver(err);
        st.removers.clear();
        for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
        st.waiters.clear();
      });
}

// The container is no longer running: persist that and answer everybody waiting on it.
void finalize(self_ptr self) {
  auto& st = self->state;
  st.ph = phase::idle;
  st.qemu_pid = 0;
  st.rec.qemu_pid = 0;
  st.rec.state = state::exited;
  st.rec.finished = os::unix_time_ns();
  st.cancel = false;
  st.kill_sent = false;
  st.log.reset();
  vm_log.info("container={} exited with {}{}", st.rec.id.substr(0, 12), st.rec.exit_code,
              st.rec.reason.empty() ? "" : " (" + st.rec.reason + ")");
  persist(self);
  if (st.start_rp.pending()) {
    if (st.start_error) st.start_rp.deliver(st.start_error);
    else st.start_rp.deliver(caf::unit);
  }
  st.start_error = caf::error{};
  for (auto& rp : st.stoppers) rp.deliver(caf::unit);
  st.stoppers.clear();
  for (auto& sub : st.subscribers) caf::anon_send(sub, end_atom_v, st.rec.id);
  st.subscribers.clear();
  if (st.rec.auto_remove || !st.removers.empty()) {
    // Waiters hear of the exit once the container is gone, so `run --rm` leaves nothing behind
    // by the time it returns.
    st.removing = true;
    finish_removal(self);
    return;
  }
  for (auto& rp : st.waiters) rp.deliver(api::exit_info{st.rec.exit_code, st.rec.reason});
  st.waiters.clear();
}

// QEMU is gone: record how the container ended, clean up after the VM, answer the waiters.
void on_qemu_exit(self_ptr self, int status) {
  auto& st = self->state;
  bool was_running = st.ph == phase::running || st.ph == phase::stopping || st.main_exited;
  st.watch.reset();
  if (st.agent) {
    caf::anon_send_exit(st.agent, caf::exit_reason::user_shutdown);
    st.agent = nullptr;
  }
  std::error_code ec;
  fs::remove_all(st.run_dir(), ec);
  if (!st.main_exited && !st.start_error) {
    // The VM ended under the workload: killed, crashed or powered off from inside.
    st.rec.exit_code = 137;
    st.rec.reason = "the VM exited unexpectedly (QEMU " +
                    (status < 0 ? std::string("status unknown")
                                : status > 128 ? "killed by signal " + std::to_string(status - 128)
                                               : "exit status " + std::to_string(status)) +
                    ")";
    if (!was_running) {
      auto tail = console_tail(st.dir() / "console.log", 8);
      st.start_error = make_error(errc::unavailable, st.rec.reason + (tail.empty() ? "" : "; console:\n" + tail));
    }
  }
  finalize(self);
}

// The VM is up and the agent answers: mount the root, start the main process.
void start_workload(self_ptr self) {
  auto& st = self->state;
  auto call = [self](std::string_view method, std::string packed) {
    return self->request(self->state.agent, std::chrono::seconds(30), call_atom_v,
                         std::string(method), std::move(packed));
  };
  agent::mount_spec mount;
  call(agent::method::mount_root, rpc::pack(mount))
      .then(
          [self, call](const std::string&) {
            auto& st = self->state;
            if (st.ph != phase::booting) return;
            call(agent::method::start, rpc::pack(st.rec.process))
                .then(
                    [self](const std::string& packed) {
                      auto& st = self->state;
                      if (st.ph != phase::booting) return;
                      auto started = rpc::unpack_as<agent::process_started>(packed);
                      st.ph = phase::running;
                      st.rec.state = state::running;
                      st.rec.started = os::unix_time_ns();
                      vm_log.info("container={} running (guest pid {}, qemu pid {})",
                                  st.rec.id.substr(0, 12), started.pid, st.qemu_pid);
                      persist(self);
                      if (st.start_rp.pending()) st.start_rp.deliver(caf::unit);
                    },
                    [self](caf::error& err) { fail_start(self, std::move(err)); });
          },
          [self](caf::error& err) { fail_start(self, std::move(err)); });
  (void) st;
}

// The agent connection is up: ask for the agent's version (the guest is ready when it answers),
// then mount the root and start the workload.
void handshake(self_ptr self, int fd, std::chrono::steady_clock::time_point started) {
  auto& st = self->state;
  st.agent = spawn_agent_session(self->home_system(), fd, caf::actor_cast<caf::actor>(self));
  agent::version_request req;
  req.host_time_ns = os::unix_time_ns();
  self->request(st.agent, st.env->boot_timeout, call_atom_v, std::string(agent::method::version),
                rpc::pack(req))
      .then(
          [self, started](const std::string& packed) {
            auto& st = self->state;
            if (st.ph != phase::booting) return;
            auto info = rpc::unpack_as<agent::version_info>(packed);
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
            vm_log.info("container={} guest up in {} ms: {} on {}, {}", st.rec.id.substr(0, 12), ms,
                        info.agent, info.kernel, info.transport);
            if (info.protocol != agent::protocol_version)
              return fail_start(self, make_error(errc::unsupported,
                                                 "guest agent speaks protocol " +
                                                     std::to_string(info.protocol) + ", berthd " +
                                                     std::to_string(agent::protocol_version)));
            start_workload(self);
          },
          [self](caf::error& err) {
            if (code_of(err) == errc::timeout)
              err = make_error(errc::timeout, "the VM did not boot within " +
                                                  std::to_string(self->state.env->boot_timeout.count()) +
                                                  " ms (see its console.log)");
            fail_start(self, std::move(err));
          });
}

void on_launched(self_ptr self, int64_t pid) {
  auto& st = self->state;
  st.qemu_pid = static_cast<pid_t>(pid);
  st.rec.qemu_pid = pid;
  auto handle = caf::actor_cast<caf::actor>(self);
  st.watch = std::make_unique<process_watch>(st.qemu_pid, true, [handle, pid](int status) {
    caf::anon_send(handle, exited_atom_v, pid, static_cast<int32_t>(status));
  });
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
  st.log.reset(::open((st.dir() / "container.log").c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
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
  if (st.env->transport == "vsock") st.rec.vsock_cid = random_vsock_cid();
  persist(self);
  run_job(self, [env = st.env, rec = st.rec] { return launch_qemu(*env, rec); })
      .then([self](int64_t pid) { on_launched(self, pid); },
            [self](caf::error& err) {
              fail_start(self, std::move(err));  // no VM was started: nothing to shut down
              finalize(self);
            });
}

void on_notice(self_ptr self, const std::string& method, const std::string& packed) {
  auto& st = self->state;
  if (method == agent::notice::output) {
    auto chunk = rpc::unpack_as<agent::output_chunk>(packed);
    auto time = os::unix_time_ns();
    append_log(st, time, chunk.fd, chunk.data);
    for (auto& sub : st.subscribers)
      caf::anon_send(sub, output_atom_v, st.rec.id, chunk.fd, time, chunk.data);
  } else if (method == agent::notice::exit) {
    auto status = rpc::unpack_as<agent::exit_status>(packed);
    if (status.id != st.rec.process.id) return;
    st.main_exited = true;
    st.rec.exit_code = status.exit_code;
    st.rec.reason = status.signal ? "killed by signal " + std::to_string(status.signal) : "";
    vm_log.info("container={} main process exited with {}", st.rec.id.substr(0, 12), status.exit_code);
    shutdown_vm(self);
  }
}

void send_signal(self_ptr self, int sig) {
  auto& st = self->state;
  if (!st.agent) return;
  agent::signal_request req{st.rec.process.id, sig};
  self->request(st.agent, std::chrono::seconds(10), call_atom_v, std::string(agent::method::signal),
                rpc::pack(req))
      .then([](const std::string&) {},
            [self, sig](caf::error& err) {
              vm_log.warn("container={} signal {} not delivered: {}", self->state.rec.id.substr(0, 12),
                          sig, describe(err));
              if (sig == SIGKILL) shutdown_vm(self);
            });
}

vm_impl::behavior_type vm_behavior(self_ptr self, std::shared_ptr<const vm_environment> env,
                                   container_record rec, store_actor store, caf::actor listener) {
  auto& st = self->state;
  st.env = std::move(env);
  st.rec = std::move(rec);
  st.store = std::move(store);
  st.listener = std::move(listener);
  if (st.rec.state != state::created && st.rec.state != state::exited) {
    // A record that says running, but no VM of ours: berthd restarted. Adopting running VMs is
    // the resilience work; until then the container is reported as exited, and its VM stopped.
    auto pidfile = st.run_dir() / "qemu.pid";
    std::error_code ec;
    if (st.rec.qemu_pid > 0 && os::process_alive(static_cast<pid_t>(st.rec.qemu_pid)))
      ::kill(static_cast<pid_t>(st.rec.qemu_pid), SIGKILL);
    fs::remove_all(st.run_dir(), ec);
    st.rec.state = state::exited;
    st.rec.exit_code = 137;
    st.rec.reason = "berthd restarted while the container ran";
    st.rec.qemu_pid = 0;
    st.rec.finished = os::unix_time_ns();
    persist(self);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const caf::actor& a) { return a.address() == msg.source; }),
               subs.end());
  });
  return {
      [self](start_atom) -> caf::result<void> {
        auto& st = self->state;
        if (st.removing) return make_error(errc::conflict, "container is being removed");
        if (st.ph != phase::idle)
          return make_error(errc::conflict, "container " + st.rec.name + " is already running");
        st.start_rp = self->make_response_promise();
        launch(self);
        return st.start_rp;
      },
      [self](stop_atom, int32_t timeout) -> caf::result<void> {
        auto& st = self->state;
        if (st.ph == phase::idle) return caf::unit;
        auto rp = self->make_response_promise();
        st.stoppers.push_back(rp);
        if (st.ph == phase::running) {
          st.ph = phase::stopping;
          st.rec.state = state::stopping;
          persist(self);
          int sig = parse_signal(st.rec.stop_signal);
          send_signal(self, sig ? sig : SIGTERM);
          if (timeout >= 0) {
            auto gen = ++st.timer_gen;
            self->delayed_send(self, std::chrono::seconds(timeout), tick_atom_v, gen);
          }
        } else if (st.ph == phase::booting) {
          fail_start(self, make_error(errc::cancelled, "stopped before it started"));
        } else if (st.ph == phase::launching) {
          st.cancel = true;  // on_launched ends the VM as soon as QEMU is there
        }
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
      [self](logs_atom, caf::actor sub) -> caf::result<void> {
        auto& st = self->state;
        auto path = st.dir() / "container.log";
        auto id = st.rec.id;
        auto rp = self->make_response_promise();
        run_job(self, [path, id, sub]() -> caf::expected<bool> {
          // Replays container.log as output messages; a torn last record (crash) is skipped.
          std::string data;
          try {
            data = os::read_file(path, 1u << 30);
          } catch (const std::system_error&) {
          }
          std::size_t off = 0;
          while (off < data.size()) {
            msgpack::object_handle oh;
            try {
              msgpack::unpack(oh, data.data(), data.size(), off);
            } catch (const std::exception&) {
              break;
            }
            auto o = oh.get();
            if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) break;
            try {
              auto time = o.via.array.ptr[0].as<int64_t>();
              auto fd = o.via.array.ptr[1].as<uint8_t>();
              auto bytes = o.via.array.ptr[2].as<std::vector<char>>();
              caf::anon_send(sub, output_atom_v, id, fd, time, std::move(bytes));
            } catch (const std::exception&) {
              break;
            }
          }
          caf::anon_send(sub, end_atom_v, id);
          return true;
        }).then([rp](bool) mutable { rp.deliver(caf::unit); },
                [rp](caf::error& err) mutable { rp.deliver(err); });
        return rp;
      },
      [self](remove_atom, bool force) -> caf::result<void> {
        auto& st = self->state;
        // Errors are returned before a promise exists: once a handler made one, CAF sends only
        // what the promise delivers.
        if (st.ph != phase::idle && !force)
          return make_error(errc::conflict, "container " + st.rec.name +
                                                " is running: stop it first or remove it with -f");
        auto rp = self->make_response_promise();
        if (st.ph != phase::idle) {
          st.removers.push_back(rp);
          st.removing = true;
          if (st.ph == phase::launching) st.cancel = true;  // on_launched ends the VM
          else kill_qemu(self, SIGKILL);
          return rp;
        }
        if (st.removing) {
          st.removers.push_back(rp);
          return rp;
        }
        st.removing = true;
        st.removers.push_back(rp);
        finish_removal(self);
        return rp;
      },
      [self](notice_atom, const std::string& method, const std::string& packed) {
        try {
          on_notice(self, method, packed);
        } catch (const rpc::call_error& e) {
          vm_log.warn("container={} bad {} notice from the agent: {}",
                      self->state.rec.id.substr(0, 12), method, e.what());
        }
      },
      [self](closed_atom, const std::string& why) {
        auto& st = self->state;
        vm_log.debug("container={} agent connection closed: {}", st.rec.id.substr(0, 12), why);
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
          vm_log.info("container={} did not stop in time: SIGKILL", st.rec.id.substr(0, 12));
          st.kill_sent = true;
          send_signal(self, SIGKILL);
          auto next = ++st.timer_gen;
          self->delayed_send(self, std::chrono::seconds(5), tick_atom_v, next);
        } else if (st.ph == phase::stopping) {
          shutdown_vm(self);  // the agent did not deliver SIGKILL either
        } else if (st.ph == phase::shutting_down) {
          vm_log.warn("container={} VM did not power off: SIGKILL to QEMU", st.rec.id.substr(0, 12));
          kill_qemu(self, SIGKILL);
        }
      },
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
