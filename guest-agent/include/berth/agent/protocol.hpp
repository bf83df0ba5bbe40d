// protocol: the calls berthd makes to berth-init, the guest agent that is PID 1 in every VM.
//
// Plain structs shared by both sides of the VM boundary. Their fields are listed once, with
// BERTH_FIELDS (rpc/fields.hpp): a msgpack map on the wire, and through actors/vocabulary.hpp the
// inspect() that lets the host's actors pass them around too.
// No CAF here: berth-init is a small static binary. docs/guest-agent.md is the reference.
#pragma once

#include "berth/rpc/fields.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

/// Version of this protocol; berthd refuses an agent that speaks another.
constexpr uint32_t protocol_version = 4;

/// Name of the virtio-serial port the agent serves on (`/sys/class/virtio-ports/*/name`).
constexpr std::string_view serial_port_name = "berth.agent";

/// AF_VSOCK port the agent listens on when the host has vhost-vsock.
constexpr uint32_t vsock_port = 1024;

/// Method names, requests from berthd to the agent.
namespace method {
constexpr std::string_view auth = "auth";  ///< the handshake only (handshake.hpp), never later
constexpr std::string_view version = "version";          ///< version_request -> version_info
constexpr std::string_view ping = "ping";                ///< empty -> empty
constexpr std::string_view mount_root = "mount_root";    ///< mount_spec -> empty
constexpr std::string_view start = "start";              ///< process_spec -> process_started
constexpr std::string_view wait = "wait";                ///< process_ref -> exit_status
constexpr std::string_view signal = "signal";            ///< signal_request -> empty
constexpr std::string_view shutdown = "shutdown";        ///< empty -> empty, then power off
constexpr std::string_view stdin_data = "stdin";         ///< stdin_chunk -> empty (once written)
constexpr std::string_view close_stdin = "close_stdin";  ///< process_ref -> empty
constexpr std::string_view resize = "resize";            ///< resize_request -> empty
constexpr std::string_view stats = "stats";              ///< empty -> vm_stats
constexpr std::string_view stat = "stat";                ///< path_request -> file_info
constexpr std::string_view list = "list";                ///< path_request -> [file_info]
constexpr std::string_view read = "read";                ///< read_request -> read_result
constexpr std::string_view mkdir = "mkdir";  ///< file_info (path, mode, uid, gid, mtime) -> empty
constexpr std::string_view write = "write";  ///< write_request -> empty
constexpr std::string_view symlink = "symlink";      ///< file_info (path, link, uid, gid) -> empty
constexpr std::string_view set_times = "set_times";  ///< file_info (path, mtime_ns) -> empty
constexpr std::string_view configure_network = "configure_network";  ///< network_config -> empty
}  // namespace method

/// Notification names, from the agent to berthd.
namespace notice {
constexpr std::string_view output = "output";  ///< output_chunk
constexpr std::string_view exit = "exit";      ///< exit_status
}  // namespace notice

/// An argument or result without fields.
struct empty {
  template <class Packer>
  void msgpack_pack(Packer& pk) const {
    pk.pack_map(0);
  }
  void msgpack_unpack(const msgpack::object&) {}
};

/// Argument of `version`: the host's clock, so the guest starts with the right time.
struct version_request {
  int64_t host_time_ns = 0;  ///< Unix time on the host; 0 leaves the guest clock alone.
  BERTH_FIELDS(version_request, host_time_ns);
};

/// Result of `version`.
struct version_info {
  std::string agent;       ///< berth-init's version string.
  uint32_t protocol = 0;   ///< protocol_version of the agent.
  std::string kernel;      ///< uname -r of the guest.
  std::string transport;   ///< "virtio-serial" or "vsock".
  uint64_t uptime_ms = 0;  ///< Guest uptime when the call was answered.
  BERTH_FIELDS(version_info, agent, protocol, kernel, transport, uptime_ms);
};

/// One more filesystem mounted into the container's root, after the overlay, in list order.
struct mount_entry {
  std::string type;    ///< "disk" (an ext4 disk found by virtio serial), "9p" (a virtio-9p
                       ///< share found by mount tag) or "tmpfs".
  std::string source;  ///< disk: the serial; 9p: the mount tag; tmpfs: ignored.
  std::string target;  ///< Absolute path in the container, created if missing.
  bool readonly = false;
  std::string options;  ///< Extra mount options ("size=64m,mode=1777" for tmpfs).
  BERTH_FIELDS(mount_entry, type, source, target, readonly, options);
};

/// Argument of `mount_root`: which disks make the container's root filesystem.
///
/// The image disk (erofs, read-only) is the lower layer; the container's own disk (ext4) holds
/// the upper and work directories of an overlayfs. Disks are found by their virtio serial.
/// /etc/hostname, /etc/hosts and /etc/resolv.conf get the given contents as files of the agent
/// bind-mounted over the image's (as Docker does), so they stay writable with readonly_root.
struct mount_spec {
  std::string image_serial = "image";  ///< Serial of the erofs image disk.
  std::string disk_serial = "rootfs";  ///< Serial of the container's ext4 disk.
  bool readonly_root = false;          ///< The container's root is read-only (--read-only).
  std::vector<mount_entry> mounts;     ///< Volumes, host shares and tmpfs, in order.
  std::string hostname;                ///< Content of /etc/hostname (a newline is added).
  std::string hosts;                   ///< Content of /etc/hosts; empty: not touched.
  std::string resolv_conf;             ///< Content of /etc/resolv.conf; empty: not touched.
  BERTH_FIELDS(mount_spec, image_serial, disk_serial, readonly_root, mounts, hostname, hosts,
               resolv_conf);
};

/// Argument of `start`: one process to run in the container's root filesystem.
struct process_spec {
  std::string id;                 ///< Name chosen by the host, unique in this VM ("main").
  std::vector<std::string> args;  ///< argv; args[0] is looked up in env's PATH unless it has '/'.
  std::vector<std::string> env;   ///< "KEY=VALUE" entries, passed as they are (HOME is added).
  std::string cwd = "/";          ///< Working directory, created if missing.
  std::string user;               ///< "", "uid", "uid:gid", "name" or "name:group".
  std::string hostname;           ///< Set as the VM's hostname when not empty.
  bool terminal = false;          ///< On a pty: output (stdout and stderr merged) comes as fd 1.
  bool open_stdin = false;        ///< stdin stays open for `stdin` calls until `close_stdin`;
                                  ///< otherwise stdin is /dev/null (a pty without input).
  uint16_t rows = 24;             ///< Initial terminal size (terminal only).
  uint16_t cols = 80;
  bool init = false;        ///< A tiny init (the agent's own code) is PID 1 of the process's
                            ///< PID namespace: it reaps and forwards signals to the command.
  std::string join;         ///< "": a new PID namespace whose PID 1 is this process (or its
                            ///< init). Else the id of a running process whose PID namespace
                            ///< this one enters (exec into a container: "main").
  uint64_t output_seq = 0;  ///< The seq of the process's first output byte (output_chunk):
                            ///< the host continues the numbers of its log across VM runs.
  BERTH_FIELDS(process_spec, id, args, env, cwd, user, hostname, terminal, open_stdin, rows, cols,
               init, join, output_seq);
};

/// Result of `start`.
struct process_started {
  int64_t pid = 0;  ///< Guest pid of the process.
  BERTH_FIELDS(process_started, pid);
};

/// Argument of `wait`: names a process.
struct process_ref {
  std::string id;
  BERTH_FIELDS(process_ref, id);
};

/// Argument of `signal`.
struct signal_request {
  std::string id;
  int32_t signal = 15;
  BERTH_FIELDS(signal_request, id, signal);
};

/// Result of `wait` and payload of the `exit` notification.
struct exit_status {
  std::string id;
  int32_t exit_code = 0;  ///< The exit status, or 128 + signal when a signal ended the process.
  int32_t signal = 0;     ///< The signal that ended the process, 0 if it exited.
  BERTH_FIELDS(exit_status, id, exit_code, signal);
};

/// Payload of the `output` notification: bytes a process wrote to stdout (1) or stderr (2).
/// `seq` numbers the process's output bytes (stdout and stderr in one sequence, from the spec's
/// output_seq): the first byte of `data` is byte `seq`. Bytes the agent had to drop leave a gap;
/// bytes sent again to a new host (the agent replays what it sent last, see docs/guest-agent.md,
/// "Output replay") repeat their numbers, so the host keeps each byte once.
struct output_chunk {
  std::string id;
  uint8_t fd = 1;
  std::vector<char> data;
  uint64_t seq = 0;
  BERTH_FIELDS(output_chunk, id, fd, data, seq);
};

/// Argument of `stdin`: bytes for a process's stdin (at most 1 MiB). The answer comes once
/// they are written into the pipe or pty, so a host that waits for it cannot flood the agent.
struct stdin_chunk {
  std::string id;
  std::vector<char> data;
  BERTH_FIELDS(stdin_chunk, id, data);
};

/// Argument of `resize`: a process's terminal size (the kernel sends it SIGWINCH).
struct resize_request {
  std::string id;
  uint16_t rows = 24;
  uint16_t cols = 80;
  BERTH_FIELDS(resize_request, id, rows, cols);
};

/// I/O counters of one block device (by virtio serial) or network interface.
struct io_counter {
  std::string name;          ///< Disk serial or interface name.
  uint64_t read_bytes = 0;   ///< Disks: read; interfaces: received.
  uint64_t write_bytes = 0;  ///< Disks: written; interfaces: sent.
  BERTH_FIELDS(io_counter, name, read_bytes, write_bytes);
};

/// Result of `stats`: the guest's view of its resources.
struct vm_stats {
  uint64_t cpu_ns = 0;        ///< CPU time used (user + system, all vCPUs) since boot.
  uint32_t cpus = 0;          ///< Online vCPUs.
  uint64_t memory_total = 0;  ///< Bytes (MemTotal).
  uint64_t memory_used = 0;   ///< Bytes (MemTotal - MemAvailable).
  uint32_t pids = 0;          ///< Processes in the VM besides the agent.
  std::vector<io_counter> disks;
  std::vector<io_counter> networks;  ///< Without lo.
  uint64_t uptime_ms = 0;
  BERTH_FIELDS(vm_stats, cpu_ns, cpus, memory_total, memory_used, pids, disks, networks, uptime_ms);
};

/// Argument of `stat` and `list`: a path in the container. Paths are resolved inside the
/// container's root (symlinks included, as if it were `/`), never outside it.
struct path_request {
  std::string path;
  BERTH_FIELDS(path_request, path);
};

/// A file in the container: the result of `stat` and `list`, the argument of `mkdir`,
/// `symlink` and `set_times`.
struct file_info {
  std::string path;   ///< `stat`: as asked; `list`: the entry's name only.
  std::string type;   ///< "file", "dir", "symlink" or "other".
  uint32_t mode = 0;  ///< Permission bits (07777).
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string link;  ///< A symlink's target.
  BERTH_FIELDS(file_info, path, type, mode, uid, gid, size, mtime_ns, link);
};

/// Argument of `read`: up to `length` (at most 1 MiB) bytes of a regular file from `offset`.
struct read_request {
  std::string path;
  uint64_t offset = 0;
  uint32_t length = 1u << 20;
  BERTH_FIELDS(read_request, path, offset, length);
};

/// Result of `read`.
struct read_result {
  std::vector<char> data;
  bool eof = false;  ///< No bytes follow.
  BERTH_FIELDS(read_result, data, eof);
};

/// Argument of `write`: bytes at `offset` of a regular file. With `create` the file is made
/// (or truncated) first with mode, uid and gid; writes then continue at later offsets.
struct write_request {
  std::string path;
  uint64_t offset = 0;
  std::vector<char> data;  ///< At most 1 MiB.
  bool create = false;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  BERTH_FIELDS(write_request, path, offset, data, create, mode, uid, gid);
};

/// One network interface of the VM, found by its MAC address.
struct interface_config {
  std::string mac;      ///< "02:42:0a:59:00:05".
  std::string address;  ///< IPv4 address, "10.89.0.5".
  uint8_t prefix_len = 24;
  std::string gateway;  ///< Default route through it; empty: none (an internal network).
  uint32_t mtu = 1500;
  BERTH_FIELDS(interface_config, mac, address, prefix_len, gateway, mtu);
};

/// Argument of `configure_network`: loopback up, then each interface up with its address; the
/// first interface with a gateway gets the default route. Virtio-net's modules are the module
/// set "net" (/lib/modules/net.list), loaded on the first call.
struct network_config {
  std::vector<interface_config> interfaces;
  BERTH_FIELDS(network_config, interfaces);
};

}  // namespace berth::agent
