// qemu_backend.cpp: the vm backend of this host: each VM is a QEMU process that berthd starts
// in its own session (so it outlives berthd), watches with a pidfd, reaches over a unix socket
// (virtio-serial) or AF_VSOCK, and controls through QMP.
#include "berth/vm/backend.hpp"

#include "agent_session.hpp"
#include "process_watch.hpp"

#include "berth/actors/log.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/vm/disk.hpp"
#include "berth/vm/vm_actor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <thread>

namespace berth::vm {

namespace {

namespace fs = std::filesystem;

inline constexpr log::logger backend_log("vm");

// The container's disk, its volumes and host directories, the QMP and agent sockets, and QEMU.
caf::expected<int64_t> launch_qemu(const vm_environment& env, const container_record& rec,
                                   const std::vector<net_device>& nics) {
  std::error_code ec;
  auto dir = env.container_dir(rec.id);
  auto run = env.run_dir(rec.id);
  fs::create_directories(dir, ec);
  if (!ec) fs::create_directories(run, ec);
  if (ec) return make_error(errc::io, "cannot create container directories: " + ec.message());
  ::chmod(run.c_str(), 0700);
  auto disk = env.container_disk(rec.id);
  if (!fs::exists(disk))
    if (auto made = make_ext4_disk(disk, env.disk_size, "berth-rootfs"); !made)
      return std::move(made.error());
  vm_config cfg;
  cfg.qemu = env.qemu;
  cfg.accel = env.accel.kind.value_or(accelerator::tcg);
  cfg.tsc_khz = env.tsc_khz;
  cfg.cpus = std::max<uint32_t>(rec.cpus, 1);
  auto memory = rec.memory > 0 ? rec.memory : env.default_memory;
  cfg.memory_mib = static_cast<uint64_t>((memory + (1 << 20) - 1) >> 20) + guest_overhead_mib;
  cfg.kernel = env.kernel.boot_image;
  cfg.initramfs = env.initramfs;
  cfg.transport = env.transport;
  cfg.vsock_cid = rec.vsock_cid;
  cfg.image_disk = rec.image_disk;
  cfg.container_disk = disk;
  cfg.console_log = dir / "console.log";
  cfg.debug = env.debug;
  cfg.nics = nics;
  for (auto& m : rec.mounts) {
    if (m.type == "volume") {
      auto path = env.volume_disk(m.source);
      if (!fs::exists(path))
        return make_error(errc::not_found, "volume " + m.source + " has no disk");
      cfg.disks.push_back({path, "vol" + std::to_string(cfg.disks.size()), m.readonly});
    } else if (m.type == "bind") {
      // Docker creates a missing host directory for -v.
      fs::create_directories(m.source, ec);
      if (!fs::is_directory(m.source))
        return make_error(errc::invalid_argument,
                          "bind source " + m.source + " is not a directory");
      cfg.shares.push_back({m.source, "share" + std::to_string(cfg.shares.size()), m.readonly});
    }
  }
  auto qmp = listen_unix(run / "qmp.sock");
  if (!qmp) return qmp.error();
  os::unique_fd qmp_fd(*qmp);
  os::unique_fd agent_fd;
  cfg.qmp_fd = qmp_fd.get();
  if (env.transport != agent_transport::vsock) {
    auto agent = listen_unix(run / "agent.sock");
    if (!agent) return agent.error();
    agent_fd.reset(*agent);
    cfg.agent_fd = agent_fd.get();
  }
  // qemu.log holds this run's messages only, so a failed start can quote them.
  os::unique_fd out(
      ::open((dir / "qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
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
    backend_log.warn("container={} {}", rec.id.substr(0, 12), e.what());
  }
  return static_cast<int64_t>(pid);
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

class qemu : public vm_backend {
 public:
  caf::expected<int64_t> launch(const vm_environment& env, const container_record& rec,
                                const std::vector<net_device>& nics) const override {
    return launch_qemu(env, rec, nics);
  }

  std::unique_ptr<vm_watch> watch(pid_t pid, bool own_child,
                                  std::function<void(int)> on_exit) const override {
    return std::make_unique<process_watch>(pid, own_child, std::move(on_exit));
  }

  void kill(pid_t pid, int sig) const override {
    if (pid > 0) ::kill(pid, sig);
  }

  caf::expected<caf::actor> connect_agent(caf::actor_system& sys, const vm_environment& env,
                                          const container_record& rec, pid_t pid, caf::actor owner,
                                          bool booting) const override {
    caf::expected<int> fd = make_error(errc::internal, "not connected");
    if (env.transport != agent_transport::vsock) {
      // The unix socket was bound before QEMU started: QEMU holds what we send until the guest
      // opens its port, so one attempt is enough even while it boots.
      fd = connect_unix(env.run_dir(rec.id) / "agent.sock");
    } else if (!booting) {
      fd = connect_vsock(rec.vsock_cid, agent::vsock_port);
    } else {
      // vsock: nothing listens until berth-init is up.
      auto deadline = std::chrono::steady_clock::now() + env.boot_timeout;
      for (;;) {
        fd = connect_vsock(rec.vsock_cid, agent::vsock_port);
        if (fd) break;
        if (!os::process_alive(pid))
          return make_error(errc::unavailable, "the VM exited while booting");
        if (std::chrono::steady_clock::now() > deadline)
          return make_error(errc::timeout, describe(fd.error()));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    if (!fd) return fd.error();
    return spawn_agent_session(sys, *fd, std::move(owner));
  }

  caf::expected<std::string> monitor(const vm_environment& env, const container_record& rec,
                                     const std::string& command,
                                     std::chrono::milliseconds timeout) const override {
    return qmp_command(env.run_dir(rec.id) / "qmp.sock", command, timeout);
  }

  bool owns(pid_t pid, const vm_environment& env, const container_record& rec) const override {
    return is_our_qemu(pid, env.container_dir(rec.id));
  }

  std::vector<pid_t> strays(const vm_environment& env, const container_record& rec) const override {
    return qemus_of(env.container_dir(rec.id));
  }
};

}  // namespace

std::shared_ptr<const vm_backend> qemu_backend() {
  static const auto backend = std::make_shared<const qemu>();
  return backend;
}

}  // namespace berth::vm
