// qemu: the QEMU microvm command line of one container's VM, and its QMP control socket.
//
// The command line is a pure function of vm_config so tests can check it without booting. The
// agent and QMP sockets are bound by berthd and handed to QEMU as listening fds, so berthd can
// connect the moment QEMU is started (no race with QEMU creating them); their paths stay valid
// for reconnecting after berthd restarts.
#pragma once

#include "berth/actors/vocabulary.hpp"
#include "berth/vm/host.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vm {

/// Memory added to a container's --memory for the guest kernel and berth-init.
inline constexpr uint64_t guest_overhead_mib = 64;

/// A disk besides the image and the container's own: a named volume.
struct extra_disk {
  std::filesystem::path path;
  std::string serial;  ///< How the guest finds it ("vol0").
  bool readonly = false;
  int fd = -1;     ///< Opened by berthd (a jailed QEMU gets the fd, not the path); -1: the path.
  int fd_ro = -1;  ///< A read-write disk's read-only twin: QEMU probes it read-only first.
};

/// A host directory shared into the VM with virtio-9p.
struct shared_dir {
  std::filesystem::path path;
  std::string tag;  ///< The 9p mount tag ("share0").
  bool readonly = false;
};

/// A NIC of the VM: a virtio-net device on a host tap (or QEMU's user-mode network).
struct net_device {
  std::string tap;                   ///< Host tap name; empty: user-mode networking (slirp).
  std::string mac;                   ///< How the guest finds the interface.
  std::vector<std::string> hostfwd;  ///< User mode only: "tcp:127.0.0.1:8080-:80".
  int tap_fd = -1;                   ///< The tap opened by berthd; -1: QEMU opens `tap`.
};

/// Everything one VM's command line depends on.
struct vm_config {
  std::string qemu = "qemu-system-x86_64";
  accelerator accel = accelerator::tcg;
  uint64_t tsc_khz = 0;      ///< Told to the guest under TCG (0: not told).
  uint32_t tcg_tb_mib = 64;  ///< Cap of TCG's translation buffer.
  uint32_t cpus = 1;
  uint64_t memory_mib = 1024;    ///< Guest RAM, overhead included.
  std::filesystem::path kernel;  ///< What QEMU boots.
  std::filesystem::path initramfs;
  agent_transport transport = agent_transport::virtio_serial;
  uint32_t vsock_cid = 0;  ///< Guest CID with vsock.
  int agent_fd = -1;       ///< Listening socket for the agent chardev (virtio-serial).
  int qmp_fd = -1;         ///< Listening socket for QMP.
  /// The VM's agent key file (agent_key_file()), given to the guest as the fw_cfg file
  /// opt/berth/agent-key; QEMU reads it when it starts. Empty: none (berth-init then serves
  /// nobody and powers off).
  std::filesystem::path agent_key;
  std::filesystem::path image_disk;  ///< The image disk: erofs, attached read-only, serial "image".
  std::filesystem::path container_disk;  ///< The container disk: ext4, read-write, serial "rootfs".
  std::filesystem::path console_log;     ///< The serial console, appended to.
  std::vector<extra_disk> disks;         ///< Volumes, in order.
  std::vector<shared_dir> shares;        ///< Host directories, in order.
  std::vector<net_device> nics;          ///< Network interfaces, in order.
  /// Fds berthd opened for a jailed QEMU (-1: QEMU opens the path itself): passed with -add-fd
  /// and named /dev/fdset/N, or given as vhostfd.
  int image_fd = -1;
  int container_fd = -1;
  int container_fd_ro = -1;  ///< The container disk again, read-only (QEMU probes with it).
  int console_fd = -1;       ///< Opened for appending.
  int vhost_vsock_fd = -1;
  bool sandbox = true;                     ///< QEMU's seccomp sandbox.
  bool debug = false;                      ///< Verbose guest kernel and agent.
  std::vector<std::string> extra_cmdline;  ///< Appended to the kernel command line.
};

/// Where the agent key of the VM whose run directory is `run_dir` lives: 32 random bytes, mode
/// 0600, made by berthd at launch, read by QEMU at its start and by berthd at every connection
/// to the guest agent (docs/guest-agent.md, "Handshake").
inline std::filesystem::path agent_key_file(const std::filesystem::path& run_dir) {
  return run_dir / "agent.key";
}

/// `value` as one value of a QEMU option list ("path=<value>,..."): every comma doubled, so a
/// path cannot end the value and add options of its own.
std::string qemu_option_value(std::string_view value);

/// argv for QEMU, argv[0] included.
std::vector<std::string> qemu_argv(const vm_config& cfg);

/// Binds a listening unix socket at `path` (replacing a stale one); returns the fd.
caf::expected<int> listen_unix(const std::filesystem::path& path);

/// Connects to the unix socket at `path`; returns a non-blocking, close-on-exec fd.
caf::expected<int> connect_unix(const std::filesystem::path& path);

/// Connects once to AF_VSOCK `cid`:`port`; fails at once if nothing listens there yet (the guest
/// is still booting), so callers retry. Returns a non-blocking, close-on-exec fd.
caf::expected<int> connect_vsock(uint32_t cid, uint32_t port);

/// A guest CID for vsock: random in [3, 2^32 - 2] (0-2 are reserved), so two daemons on one host
/// are unlikely to collide; QEMU refuses a CID in use and the start fails with that message.
uint32_t random_vsock_cid();

/// Sends one QMP command (e.g. "quit", "query-status") on a fresh connection and returns the
/// raw JSON of its "return" (or the error as a caf::error). Blocking: for worker threads.
caf::expected<std::string> qmp_command(const std::filesystem::path& socket,
                                       const std::string& command,
                                       std::chrono::milliseconds timeout);

}  // namespace berth::vm
