// qemu_backend.cpp: the vm backend of this host: each VM is a QEMU process that berthd starts
// in its own session (so it outlives berthd), watches with a pidfd, reaches over a unix socket
// (virtio-serial) or AF_VSOCK, and controls through QMP. Every connection to the guest agent
// starts with the handshake of berth/agent/handshake.hpp: berthd sends the VM's key, made at
// launch and kept in RUN/<id>/agent.key, and hands the connection to the session actor only once
// the agent has accepted it.
#include "berth/vm/backend.hpp"

#include "agent_session.hpp"
#include "jail.hpp"
#include "process_watch.hpp"

#include "berth/actors/log.hpp"
#include "berth/agent/handshake.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/program.hpp"
#include "berth/os/random.hpp"
#include "berth/vm/disk.hpp"
#include "berth/vm/vm_actor.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <thread>

namespace berth::vm {

namespace {

namespace fs = std::filesystem;

inline constexpr log::logger backend_log("vm");

// How long an agent that is up may take to answer the handshake (a booting one has the boot
// timeout).
constexpr std::chrono::seconds handshake_timeout{5};

// The handshake on the fresh connection `fd` (non-blocking) to the agent of VM `pid`: sends the
// key of `key_file`, reads the 5 bytes of the answer and nothing more, so what the agent sends
// next stays in the socket for the session.
caf::error agent_handshake(int fd, const fs::path& key_file, pid_t pid,
                           std::chrono::steady_clock::time_point deadline) {
  std::string key;
  try {
    key = os::read_file(key_file, 4096);
  } catch (const std::system_error& e) {
    return make_error(errc::unavailable, "cannot read the agent key: " + std::string(e.what()));
  }
  if (key.size() != agent::agent_key_size)
    return make_error(errc::unavailable, "the agent key " + key_file.string() + " has " +
                                             std::to_string(key.size()) + " bytes, not " +
                                             std::to_string(agent::agent_key_size));
  // Waits for `events` on fd until the deadline, noticing a VM that exits meanwhile.
  auto wait_for = [&](short events) -> caf::error {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return make_error(errc::timeout, "the guest agent did not answer the handshake");
      pollfd p{fd, events, 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
      if (n > 0) return caf::none;
      if (pid > 0 && !os::process_alive(pid))
        return make_error(errc::unavailable, "the VM exited before its agent answered");
    }
  };
  auto request = agent::auth_request(key);
  std::string_view rest = request;
  while (!rest.empty()) {
    auto n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (auto err = wait_for(POLLOUT)) return err;
    } else {
      return make_error(errc::unavailable,
                        "sending the agent key: " + std::string(std::strerror(errno)));
    }
  }
  // The answer comes first, except on a virtio-serial port whose agent had not seen the previous
  // host hang up when this one connected: the rest of what it was writing to that host comes
  // first (guest-agent/src/server.cpp, reauthenticate). So the answer is looked for at the end of
  // what arrived, a byte at a time once the first five are not it, within max_skipped bytes.
  constexpr std::size_t max_skipped = 4u << 20;
  const auto refused = agent::auth_refused.substr(0, agent::auth_accepted.size());
  std::string seen;  // the last bytes that arrived, at most as many as an answer has
  std::size_t skipped = 0;
  for (;;) {
    char buf[8];
    auto want = seen.size() < agent::auth_accepted.size()
                    ? agent::auth_accepted.size() - seen.size()
                    : std::size_t{1};
    auto n = ::recv(fd, buf, want, 0);
    if (n > 0) {
      seen.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (auto err = wait_for(POLLIN)) return err;
      continue;
    } else {
      return make_error(errc::unavailable,
                        "the guest agent closed the connection during the handshake" +
                            (n < 0 ? ": " + std::string(std::strerror(errno)) : std::string()));
    }
    if (seen.size() < agent::auth_accepted.size()) continue;
    if (seen == agent::auth_accepted) return caf::none;
    if (seen == refused)
      return make_error(errc::unavailable,
                        "the guest agent refused the key of " + key_file.string());
    if (++skipped > max_skipped) break;
    seen.erase(0, 1);
  }
  return make_error(errc::unavailable,
                    "the guest agent answered the handshake with bytes that "
                    "are neither acceptance nor refusal");
}

// A writable share keeps what the guest sets (owner, mode, device type) in user.* xattrs of the
// host files (security_model=mapped-xattr): a filesystem without them is refused rather than
// served in a mode that would put the guest's owners and modes on the host (or litter the
// directory with .virtfs_metadata, as mapped-file does).
caf::error check_share(const fs::path& dir, bool readonly) {
  if (readonly) return {};
  char value[64];
  if (::getxattr(dir.c_str(), "user.virtfs.uid", value, sizeof value) >= 0 || errno == ENODATA ||
      errno == ERANGE)
    return {};
  if (errno == ENOTSUP)
    return make_error(errc::invalid_argument,
                      "bind source " + dir.string() +
                          " is on a filesystem without user extended attributes, which a "
                          "writable share needs (mount it :ro, or use a volume)");
  return make_error(errc::io, "bind source " + dir.string() + ": " + std::strerror(errno));
}

// Opens `path` for QEMU (with O_CLOEXEC: spawn clears it on the fds it passes).
caf::expected<int> open_for_qemu(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  return fd;
}

// Attaches to the tap `name` (made by the net supervisor) the way QEMU would, with virtio-net
// headers.
caf::expected<int> open_tap(const std::string& name) {
  auto fd = open_for_qemu("/dev/net/tun", O_RDWR);
  if (!fd) return fd;
  os::unique_fd tun(*fd);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0)
    return make_error(errc::io, "cannot attach to tap " + name + ": " + std::strerror(errno));
  return tun.release();
}

// What QEMU itself may use besides guest RAM before its cgroup refuses it (besides TCG's
// translation buffer): measured at about 60 MiB for an idle TCG VM here, with room for 9p and
// block buffers.
constexpr uint64_t qemu_overhead_mib = 192;
// Threads: vCPUs, RCU, I/O and 9p workers (glib's pool), with room.
constexpr uint64_t qemu_pids_limit = 256;

// Starts QEMU in its jail (jail.hpp): every file QEMU would open by path is opened here and
// passed as an fd, and what it must read by path (kernel, initramfs, shares) is bound into the
// jail at a fixed place.
caf::expected<pid_t> spawn_in_jail(const vm_environment& env, const container_record& rec,
                                   vm_config cfg, int out_fd, std::vector<int> keep) {
  fs::path binary;
  try {
    binary = os::program_path(cfg.qemu);
  } catch (const std::system_error& e) {
    return make_error(errc::unavailable, e.what());
  }
  auto run = env.run_dir(rec.id);
  auto spec = qemu_jail(run / "jail", binary.string());
  std::error_code ec;
  fs::create_directories(spec.root, ec);
  if (ec) return make_error(errc::io, "cannot create the jail: " + ec.message());
  spec.uid_base = env.jail_uid_base;
  std::vector<os::unique_fd> fds;
  auto pass = [&](caf::expected<int> fd) -> caf::expected<int> {
    if (!fd) return fd;
    fds.emplace_back(*fd);
    keep.push_back(*fd);
    return fd;
  };
  auto image = pass(open_for_qemu(cfg.image_disk, O_RDONLY));
  if (!image) return image.error();
  cfg.image_fd = *image;
  auto container = pass(open_for_qemu(cfg.container_disk, O_RDWR));
  if (!container) return container.error();
  cfg.container_fd = *container;
  auto container_ro = pass(open_for_qemu(cfg.container_disk, O_RDONLY));
  if (!container_ro) return container_ro.error();
  cfg.container_fd_ro = *container_ro;
  auto console = pass(open_for_qemu(cfg.console_log, O_WRONLY | O_APPEND | O_CREAT));
  if (!console) return console.error();
  cfg.console_fd = *console;
  for (auto& d : cfg.disks) {
    auto fd = pass(open_for_qemu(d.path, d.readonly ? O_RDONLY : O_RDWR));
    if (!fd) return fd.error();
    d.fd = *fd;
    if (!d.readonly) {
      auto ro = pass(open_for_qemu(d.path, O_RDONLY));
      if (!ro) return ro.error();
      d.fd_ro = *ro;
    }
  }
  bool host_network = false;
  for (auto& n : cfg.nics) {
    if (n.tap.empty()) {
      host_network = true;  // slirp's sockets, and its host forwards, are in berthd's namespace
      continue;
    }
    auto fd = pass(open_tap(n.tap));
    if (!fd) return fd.error();
    n.tap_fd = *fd;
  }
  if (cfg.transport == agent_transport::vsock) {
    auto fd = pass(open_for_qemu("/dev/vhost-vsock", O_RDWR));
    if (!fd) return fd.error();
    cfg.vhost_vsock_fd = *fd;
  }
  if (cfg.accel == accelerator::kvm) spec.devices.push_back("/dev/kvm");
  spec.binds.push_back({cfg.kernel, "/boot/kernel"});
  cfg.kernel = "/boot/kernel";
  spec.binds.push_back({cfg.initramfs, "/boot/initramfs"});
  cfg.initramfs = "/boot/initramfs";
  for (std::size_t i = 0; i < cfg.shares.size(); ++i) {
    auto target = fs::path("/shares") / std::to_string(i);
    spec.binds.push_back({cfg.shares[i].path, target, cfg.shares[i].readonly});
    cfg.shares[i].path = target;
  }
  // 9p serves host directories the jail's uid does not own, and reaches xattrs through
  // /proc/self/fd: a VM with shares keeps two capabilities and gets /proc.
  spec.share_caps = !cfg.shares.empty();
  spec.proc = !cfg.shares.empty();
  spec.new_network = !host_network;
  // QEMU reads the agent key by path at its start (fw_cfg): bound in, readable by its uid alone.
  if (!cfg.agent_key.empty()) {
    spec.binds.push_back({cfg.agent_key, "/agent.key"});
    spec.owned.push_back(cfg.agent_key);
    cfg.agent_key = "/agent.key";
  }
  spec.cgroup = "berth-" + rec.id.substr(0, 12);
  spec.memory_limit =
      (cfg.memory_mib + qemu_overhead_mib + (cfg.accel == accelerator::kvm ? 0 : cfg.tcg_tb_mib))
      << 20;
  spec.pids_limit = qemu_pids_limit + cfg.cpus;
  auto argv = qemu_argv(cfg);
  argv[0] = binary.string();
  return spawn_jailed(argv, spec, out_fd, out_fd, std::move(keep));
}

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
  // A new key for every launch: a key the guest of an earlier run read is worth nothing now.
  auto key_file = agent_key_file(run);
  try {
    os::write_file_atomic(key_file, os::random_bytes(agent::agent_key_size), 0600);
  } catch (const std::system_error& e) {
    return make_error(errc::io, "cannot write the agent key: " + std::string(e.what()));
  }
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
  cfg.agent_key = key_file;
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
      if (auto err = check_share(m.source, m.readonly)) return err;
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
  std::vector<int> keep = {qmp_fd.get()};
  if (agent_fd) keep.push_back(agent_fd.get());
  pid_t pid;
  if (env.jail) {
    auto started = spawn_in_jail(env, rec, cfg, out.get(), keep);
    if (!started) return started.error();
    pid = *started;
  } else {
    os::spawn_options opts;
    opts.stdout_fd = out.get();
    opts.stderr_fd = out.get();
    opts.keep_fds = keep;
    opts.new_session = true;
    try {
      pid = os::spawn(qemu_argv(cfg), opts);
    } catch (const std::system_error& e) {
      return make_error(errc::unavailable, std::string("cannot start QEMU: ") + e.what());
    }
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
  // Unjailed, QEMU opens the console log by path; jailed, it names the log's fd set.
  auto console = qemu_option_value((dir / "console.log").string());
  return cmdline.find("path=" + console + ",") != std::string::npos ||
         cmdline.find("opaque=" + console + " ") != std::string::npos;
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
    // A jailed QEMU's cgroups go when it ends (they are empty then).
    auto cgroups = jail_cgroups_of(pid);
    if (cgroups.empty()) return std::make_unique<process_watch>(pid, own_child, std::move(on_exit));
    return std::make_unique<process_watch>(pid, own_child,
                                           [cgroups, on_exit = std::move(on_exit)](int status) {
                                             remove_jail_cgroups(cgroups);
                                             on_exit(status);
                                           });
  }

  void kill(pid_t pid, int sig) const override {
    if (pid > 0) ::kill(pid, sig);
  }

  caf::expected<caf::actor> connect_agent(caf::actor_system& sys, const vm_environment& env,
                                          const container_record& rec, pid_t pid, caf::actor owner,
                                          bool booting) const override {
    caf::expected<int> fd = make_error(errc::internal, "not connected");
    auto deadline =
        std::chrono::steady_clock::now() +
        (booting ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(env.boot_timeout)
                 : std::chrono::steady_clock::duration(handshake_timeout));
    if (env.transport != agent_transport::vsock) {
      // The unix socket was bound before QEMU started: QEMU holds what we send until the guest
      // opens its port, so one attempt is enough even while it boots.
      fd = connect_unix(env.run_dir(rec.id) / "agent.sock");
    } else if (!booting) {
      fd = connect_vsock(rec.vsock_cid, agent::vsock_port);
    } else {
      // vsock: nothing listens until berth-init is up.
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
    os::unique_fd conn(*fd);
    // With virtio-serial QEMU holds the key until the guest opens its port: while booting, the
    // answer comes once berth-init is up.
    if (auto err =
            agent_handshake(conn.get(), agent_key_file(env.run_dir(rec.id)), pid, deadline)) {
      backend_log.error("container={} the guest agent handshake failed: {}", rec.id.substr(0, 12),
                        describe(err));
      return err;
    }
    return spawn_agent_session(sys, conn.release(), std::move(owner));
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
