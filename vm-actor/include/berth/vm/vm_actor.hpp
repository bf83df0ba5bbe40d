// vm_actor: one actor per container, owning its QEMU microVM from boot to removal.
//
// The actor launches QEMU (on a job thread: disk, sockets, spawn), talks to berth-init over the
// agent channel (version, mount_root, start), streams the main process's output to its log and
// to attached subscribers, and walks the states created -> starting -> running -> (stopping ->)
// exited, each persisted through the store. When the VM ends, for whatever reason, its socket
// directory is removed and everything waiting on the container is answered. QEMU runs in its own
// session, so a crash of this actor or of berthd does not take the VM down.
//
// Restart: the vm supervisor restarts a crashed vm actor from the store's record (transient).
// A vm actor that starts from a record saying running (after its own crash, or a restart of
// berthd) adopts the VM when its QEMU still runs: it watches the pid, reconnects to the agent
// socket, reopens the log and plugs the network again, and the guest's queued output and exit
// arrive as they would have. A container whose VM died meanwhile is marked exited with a reason
// and its restart policy applies. While running, the agent answers a heartbeat; a VM that stops
// answering for `heartbeat_timeout` is killed as unresponsive.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/actors/store.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/api/restart_policy.hpp"
#include "berth/vm/backend.hpp"
#include "berth/vm/host.hpp"
#include "berth/vm/kernel.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>

namespace berth::vm {

/// What every VM on this host shares: kernel, initramfs, accelerator, paths and defaults.
struct vm_environment {
  kernel_info kernel;
  std::filesystem::path initramfs;
  accel_choice accel;
  uint64_t tsc_khz = 0;
  agent_transport transport = agent_transport::virtio_serial;
  std::string qemu = "qemu-system-x86_64";
  std::string qemu_version;         ///< QEMU's version line, for `system info`.
  std::filesystem::path data_root;  ///< Containers live in data_root/containers/<id>.
  std::filesystem::path run_root;   ///< Sockets live in run_root/<short id>.
  std::chrono::milliseconds boot_timeout{std::chrono::seconds(60)};
  uint64_t disk_size = 10ull << 30;      ///< Sparse size of each container's ext4 disk.
  std::set<std::string> module_sets;     ///< Optional module sets in the initramfs ("9p").
  int64_t default_memory = 512ll << 20;  ///< --memory when none is given.
  bool debug = false;
  bool bridge_none = false;  ///< berthd --bridge=none: no net supervisor, no bridge networks.
  /// Runs each QEMU jailed: its own uid (jail_uid_base + its pid), no capabilities, its own
  /// namespaces and root, a cgroup (docs/security.md). berthd --jail=false turns it off, for
  /// comparing costs.
  bool jail = true;
  uint32_t jail_uid_base = 2'000'000'000u;  ///< berthd --jail-uid-base.
  /// A running VM whose agent has answered nothing for this long is unresponsive: it is killed
  /// and its restart policy applies. Zero turns the heartbeat off.
  std::chrono::milliseconds heartbeat_timeout{std::chrono::seconds(30)};
  /// What runs the VMs: QEMU processes of this host (tests give a fake).
  std::shared_ptr<const vm_backend> backend = qemu_backend();

  /// DATA/containers/<id>: the container's disk, logs and console.
  std::filesystem::path container_dir(const std::string& id) const {
    return data_root / "containers" / id;
  }
  /// The container disk: its own writable ext4, the overlay's upper layer (the guest finds it
  /// by the serial "rootfs", the name it had first).
  std::filesystem::path container_disk(const std::string& id) const {
    return container_dir(id) / "rootfs.ext4";
  }
  /// RUN/<short id>: QMP and agent sockets, QEMU's pid (short: unix socket paths are limited).
  std::filesystem::path run_dir(const std::string& id) const { return run_root / id.substr(0, 12); }
  /// DATA/volumes/<name>/disk.ext4: a named volume's disk.
  std::filesystem::path volume_disk(const std::string& name) const {
    return data_root / "volumes" / name / "disk.ext4";
  }
};

/// The restart policy "no", "always", "unless-stopped" or "on-failure[:N]", parsed (the wire's
/// vocabulary, shared with the CLI).
using api::parse_restart_policy;
using api::restart_policy_spec;

/// Whether a container that exited with `exit_code` is restarted under `policy` after
/// `restarts` restarts, unless the user stopped it.
bool restart_wanted(const restart_policy_spec& policy, int32_t exit_code, uint32_t restarts,
                    bool stopped_by_user);

/// The delay before restart number `n` (1-based): 100 ms doubling, at most one minute.
std::chrono::milliseconds restart_delay(uint32_t n);

/// How often the agent is pinged under a heartbeat timeout: a third of it, within 1-10 s.
std::chrono::milliseconds heartbeat_interval(std::chrono::milliseconds timeout);

/// The actor of one container. Output subscribers receive
/// (output_atom, process id, fd, unix time ns, bytes) and finally
/// (end_atom, process id, int32 exit code), where the process id is the container id for the
/// main process and the exec id for an exec (exit code -1 when there is none, e.g. logs).
using vm_actor = caf::typed_actor<
    /// Boots the VM and starts the main process; answers once it runs, or why it could not
    /// (exec_not_found and exec_denied when the command cannot be run).
    caf::replies_to<start_atom>::with<void>,
    /// Sends the stop signal (the second argument, or the container's when 0), then SIGKILL
    /// after `timeout` s (-1: no escalation, -2: the container's stop timeout); answers once
    /// the container exited. A container that is not running answers at once.
    caf::replies_to<stop_atom, int32_t, int32_t>::with<void>,
    /// Answers when the container has exited (at once if it is not running).
    caf::replies_to<wait_atom>::with<api::exit_info>,
    /// The container's current record.
    caf::replies_to<inspect_atom>::with<container_record>,
    /// Sends the subscriber the output from now on, and (end_atom, id) when the container exits.
    caf::replies_to<attach_atom, caf::actor>::with<void>,
    /// Stops sending output to the subscriber.
    caf::reacts_to<detach_atom, caf::actor>,
    /// Sends the subscriber the stored log (or the console with `boot`, the last `tail` lines),
    /// and with `follow` then the live output until the container exits; answers when the
    /// stored part is sent.
    caf::replies_to<logs_atom, caf::actor, api::logs_request>::with<void>,
    /// Starts a process in the running container; its output goes to the subscriber (none when
    /// detached). Answers the exec id once it runs.
    caf::replies_to<exec_atom, api::exec_request, caf::actor>::with<std::string>,
    /// Writes to a process's stdin (the container id names the main process); answers once the
    /// bytes are written in the guest.
    caf::replies_to<stdin_atom, std::string, std::vector<char>>::with<void>,
    /// Ends a process's stdin.
    caf::replies_to<eof_atom, std::string>::with<void>,
    /// Sets a process's terminal size.
    caf::replies_to<resize_atom, std::string, uint16_t, uint16_t>::with<void>,
    /// Sends the main process a signal.
    caf::replies_to<kill_atom, int32_t>::with<void>,
    /// CPU, memory, block and network figures of the running container.
    caf::replies_to<stats_atom>::with<api::container_stats>,
    /// Pings the guest agent; answers the round trip.
    caf::replies_to<ping_atom>::with<api::ping_result>,
    /// Throws (fault injection, berthd --fault-injection): the vm supervisor restarts the actor,
    /// which adopts the VM that still runs.
    caf::reacts_to<crash_atom>,
    /// The file at a path of the running container, a final symlink not followed (berth cp;
    /// every file call answers conflict when the container is not running).
    caf::replies_to<file_atom, api::file_ref>::with<api::file_info>,
    /// The entries of a directory of the running container.
    caf::replies_to<file_atom, list_atom, api::file_ref>::with<std::vector<api::file_info>>,
    /// Up to max_file_chunk bytes of a regular file of the running container.
    caf::replies_to<file_atom, read_atom, api::file_read_request>::with<api::file_data>,
    /// Writes bytes into a regular file of the running container (with `create`: made first).
    caf::replies_to<file_atom, write_atom, api::file_write_request>::with<void>,
    /// Creates a directory (an existing one is fine), then sets owner, mode and times.
    caf::replies_to<file_atom, mkdir_atom, api::file_spec>::with<void>,
    /// Creates a symlink, replacing a non-directory.
    caf::replies_to<file_atom, symlink_atom, api::file_spec>::with<void>,
    /// Sets the times of a path itself (a symlink's own).
    caf::replies_to<file_atom, touch_atom, api::file_spec>::with<void>,
    /// Stops (with the timeout, -2: the container's own) and starts the container again.
    caf::replies_to<restart_atom, int32_t>::with<void>,
    /// Stops the container for berthd's clean stop; unlike `stop`, restart policies still bring
    /// it back when berthd starts again.
    caf::replies_to<shutdown_atom>::with<void>,
    /// Deletes the container (its disk, logs and record); `force` kills a running one first.
    /// The actor exits after answering.
    caf::replies_to<remove_atom, bool>::with<void>>;

/// Spawns the actor of `record`. It saves every change of its record to `store` and sends
/// `listener` (save_atom, record) for each change and (erase_atom, container_atom, id) once
/// it is removed.
vm_actor spawn_vm(caf::local_actor* parent, std::shared_ptr<const vm_environment> env,
                  container_record record, store_actor store, caf::actor listener);

}  // namespace berth::vm
