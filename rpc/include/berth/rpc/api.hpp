// api: the methods berthd serves to the berth CLI and remote clients, and their payloads.
//
// Plain structs with MSGPACK_DEFINE_MAP: a map of named fields on the wire, so fields can be
// added without breaking older clients (unknown keys are ignored, missing keys keep their
// defaults). actors/vocabulary.hpp adds inspect() for the daemon's actors. docs/protocol.md
// lists every method with its argument and result.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

namespace berth::api {

/// Version of the CLI <-> berthd protocol.
constexpr uint32_t protocol_version = 1;

/// Method names served by berthd.
namespace method {
constexpr std::string_view system_info = "system.info";            ///< -> system_info
constexpr std::string_view system_ping = "system.ping";            ///< -> empty
/// Only with `berthd --fault-injection` (tests): crashes one actor of the tree.
constexpr std::string_view debug_crash = "debug.crash";            ///< crash_request -> empty
constexpr std::string_view image_list = "image.list";              ///< -> [image_info]
constexpr std::string_view image_load_begin = "image.load.begin";  ///< -> upload
constexpr std::string_view image_load_chunk = "image.load.chunk";  ///< upload_chunk -> empty
constexpr std::string_view image_load_end = "image.load.end";      ///< upload -> [image_info]
constexpr std::string_view image_pull = "image.pull";              ///< pull_request -> image_info
constexpr std::string_view image_push = "image.push";              ///< push_request -> pushed
constexpr std::string_view image_tag = "image.tag";                ///< tag_request -> empty
constexpr std::string_view image_remove = "image.remove";          ///< image_remove_request -> removed
constexpr std::string_view image_prune = "image.prune";            ///< prune_request -> removed
constexpr std::string_view image_save = "image.save";              ///< save_request -> stream (tar)
constexpr std::string_view image_inspect = "image.inspect";        ///< image_ref -> image_detail
constexpr std::string_view registry_login = "registry.login";      ///< login_request -> empty
constexpr std::string_view registry_logout = "registry.logout";    ///< logout_request -> empty
constexpr std::string_view container_create = "container.create";  ///< container_spec -> created
constexpr std::string_view container_start = "container.start";    ///< container_ref -> empty
constexpr std::string_view container_attach = "container.attach";  ///< container_ref -> stream
constexpr std::string_view container_wait = "container.wait";      ///< container_ref -> exit_info
constexpr std::string_view container_stop = "container.stop";      ///< stop_request -> empty
constexpr std::string_view container_remove = "container.remove";  ///< remove_request -> empty
constexpr std::string_view container_list = "container.list";      ///< list_request -> [container_info]
constexpr std::string_view container_inspect = "container.inspect";  ///< container_ref -> container_info
constexpr std::string_view container_logs = "container.logs";      ///< logs_request -> stream
constexpr std::string_view container_exec = "container.exec";      ///< exec_request -> exec_started
constexpr std::string_view container_kill = "container.kill";      ///< kill_request -> empty
constexpr std::string_view container_restart = "container.restart";  ///< stop_request -> empty
constexpr std::string_view container_stats = "container.stats";    ///< container_ref -> container_stats
constexpr std::string_view container_ping = "container.ping";      ///< container_ref -> ping_result
constexpr std::string_view container_prune = "container.prune";    ///< empty -> removed
constexpr std::string_view file_stat = "container.file.stat";      ///< file_ref -> file_info
constexpr std::string_view file_list = "container.file.list";      ///< file_ref -> [file_info]
constexpr std::string_view file_read = "container.file.read";      ///< file_read_request -> file_data
constexpr std::string_view file_write = "container.file.write";    ///< file_write_request -> empty
constexpr std::string_view file_mkdir = "container.file.mkdir";    ///< file_spec -> empty
constexpr std::string_view file_symlink = "container.file.symlink";  ///< file_spec -> empty
constexpr std::string_view file_set_times = "container.file.set_times";  ///< file_spec -> empty
constexpr std::string_view stream_stdin = "stream.stdin";          ///< stdin_request -> empty
constexpr std::string_view stream_close_stdin = "stream.close_stdin";  ///< stream -> empty
constexpr std::string_view stream_resize = "stream.resize";        ///< resize_request -> empty
constexpr std::string_view volume_create = "volume.create";        ///< volume_create_request -> volume_info
constexpr std::string_view volume_list = "volume.list";            ///< empty -> [volume_info]
constexpr std::string_view volume_inspect = "volume.inspect";      ///< volume_ref -> volume_info
constexpr std::string_view volume_remove = "volume.remove";        ///< volume_remove_request -> empty
constexpr std::string_view volume_prune = "volume.prune";          ///< empty -> removed
constexpr std::string_view network_create = "network.create";      ///< network_create_request -> network_info
constexpr std::string_view network_list = "network.list";          ///< empty -> [network_info]
constexpr std::string_view network_inspect = "network.inspect";    ///< network_ref -> network_info
constexpr std::string_view network_remove = "network.remove";      ///< network_ref -> empty
constexpr std::string_view network_prune = "network.prune";        ///< empty -> removed
constexpr std::string_view network_connect = "network.connect";    ///< network_connect_request -> empty
constexpr std::string_view network_disconnect = "network.disconnect";  ///< network_connect_request -> empty
}  // namespace method

/// Notification names sent by berthd on a stream.
namespace notice {
constexpr std::string_view stream_data = "stream.data";  ///< stream_data
constexpr std::string_view stream_end = "stream.end";    ///< stream_end
constexpr std::string_view progress = "progress";        ///< progress (pulls and pushes)
}  // namespace notice

/// An argument or result without fields.
struct empty {
  template <class Packer>
  void msgpack_pack(Packer& pk) const { pk.pack_map(0); }
  void msgpack_unpack(const msgpack::object&) {}
};

/// Result of system.info.
struct system_info {
  std::string version;            ///< berthd's version.
  uint32_t protocol = protocol_version;
  std::string accelerator;        ///< "kvm" or "tcg".
  std::string accelerator_note;   ///< Why this accelerator was chosen.
  std::string kernel;             ///< Path of the guest kernel.
  std::string kernel_version;     ///< Its release string.
  std::string agent_transport;    ///< "vsock" or "virtio-serial".
  std::string data_root;          ///< Where berthd keeps its state.
  std::string qemu;               ///< QEMU binary and version.
  uint32_t containers = 0;
  uint32_t containers_running = 0;
  uint32_t images = 0;
  MSGPACK_DEFINE_MAP(version, protocol, accelerator, accelerator_note, kernel, kernel_version,
                     agent_transport, data_root, qemu, containers, containers_running, images);
};

/// An image as `image ls` shows it.
struct image_info {
  std::string id;                 ///< "sha256:<hex>" of the image config.
  std::vector<std::string> tags;  ///< Normalized references ("busybox:latest").
  std::string manifest_digest;    ///< Digest of the manifest it was loaded or pulled from.
  std::string os;
  std::string architecture;
  uint64_t size = 0;              ///< Bytes of its (compressed) layers.
  uint64_t disk_size = 0;         ///< Bytes of its erofs image disk.
  int64_t created = 0;            ///< Unix time (s) from the image config, 0 if absent.
  MSGPACK_DEFINE_MAP(id, tags, manifest_digest, os, architecture, size, disk_size, created);
};

/// Returned by image.load.begin; names the upload in the chunk and end calls.
struct upload {
  uint32_t upload_id = 0;
  MSGPACK_DEFINE_MAP(upload_id);
};

/// Argument of image.load.chunk: the next bytes of an OCI archive (a tar).
struct upload_chunk {
  uint32_t upload_id = 0;
  std::vector<char> data;  ///< At most 1 MiB.
  MSGPACK_DEFINE_MAP(upload_id, data);
};

/// Argument of image.pull.
struct pull_request {
  std::string reference;  ///< "busybox", "host:5000/a/b:t", "x@sha256:..."
  std::string platform;   ///< "linux/amd64" (default), "linux/arm64/v8".
  MSGPACK_DEFINE_MAP(reference, platform);
};

/// Argument of image.push.
struct push_request {
  std::string reference;
  MSGPACK_DEFINE_MAP(reference);
};

/// Result of image.push.
struct pushed {
  std::string digest;  ///< Digest of the manifest as the registry stores it.
  uint64_t size = 0;   ///< Bytes uploaded (blobs the registry already had are not counted).
  MSGPACK_DEFINE_MAP(digest, size);
};

/// Notification `progress` while a pull or push runs: one item (a layer, the config, the
/// manifest) changed. A client shows one line or bar per `id`.
struct progress {
  std::string reference;  ///< The pull's or push's reference, as the client gave it.
  std::string id;         ///< Short digest of the blob ("3f2a1b4c5d6e").
  std::string status;     ///< "waiting", "downloading", "uploading", "verifying", "done",
                          ///< "exists" (already stored), "retrying".
  uint64_t current = 0;   ///< Bytes so far.
  uint64_t total = 0;     ///< Bytes in all (0 if unknown).
  MSGPACK_DEFINE_MAP(reference, id, status, current, total);
};

/// Argument of image.tag.
struct tag_request {
  std::string source;  ///< Reference or id of an image.
  std::string target;  ///< The new reference.
  MSGPACK_DEFINE_MAP(source, target);
};

/// Argument of image.remove.
struct image_remove_request {
  std::string reference;  ///< Reference or id.
  bool force = false;     ///< Remove even if tagged more than once, or used by stopped containers.
  MSGPACK_DEFINE_MAP(reference, force);
};

/// Argument of image.prune.
struct prune_request {
  bool all = false;  ///< Also images with tags that no container uses (default: only untagged).
  MSGPACK_DEFINE_MAP(all);
};

/// Result of image.remove and image.prune, in Docker's words.
struct removed {
  std::vector<std::string> untagged;  ///< References that no longer name an image.
  std::vector<std::string> deleted;   ///< Image ids and blob digests that are gone.
  uint64_t reclaimed = 0;             ///< Bytes freed on disk.
  MSGPACK_DEFINE_MAP(untagged, deleted, reclaimed);
};

/// Argument of image.save: the images to write into one OCI archive (sent as a stream of tar
/// bytes on fd 1).
struct save_request {
  std::vector<std::string> references;
  MSGPACK_DEFINE_MAP(references);
};

/// Names an image by reference or id.
struct image_ref {
  std::string reference;
  MSGPACK_DEFINE_MAP(reference);
};

/// A health check, as Docker's HealthConfig: the image config's Healthcheck, the --health-*
/// flags, or both merged field by field (a zero field takes the image's, then the default).
struct healthcheck {
  std::vector<std::string> test;  ///< ["CMD-SHELL", cmd] (run as /bin/sh -c cmd), ["CMD", arg...],
                                  ///< ["NONE"] (no check, not even the image's); empty: the image's.
  int64_t interval = 0;           ///< ns between the end of a check and the next; 0: 30 s.
  int64_t timeout = 0;            ///< ns a check may run before it is killed and failed; 0: 30 s.
  int64_t start_period = 0;       ///< ns after start in which failures do not count; 0: none.
  int32_t retries = 0;            ///< Failures in a row that make it unhealthy; 0: 3.
  MSGPACK_DEFINE_MAP(test, interval, timeout, start_period, retries);
};

/// One run of a health check, as Docker's State.Health.Log shows it.
struct health_result {
  int64_t start = 0;    ///< Unix ns.
  int64_t end = 0;      ///< Unix ns.
  int32_t exit_code = 0;  ///< 0: healthy; -1: it could not run or timed out.
  std::string output;   ///< The last 4 KiB of its stdout and stderr.
  MSGPACK_DEFINE_MAP(start, end, exit_code, output);
};

/// A running container's health (runtime state: it starts again from "starting" at each start).
struct health_state {
  std::string status;          ///< "starting", "healthy", "unhealthy"; empty: no check runs.
  int32_t failing_streak = 0;  ///< Failures in a row (those within the start period not counted).
  std::vector<health_result> log;  ///< The last 5 results, oldest first.
  MSGPACK_DEFINE_MAP(status, failing_streak, log);
};

/// Result of image.inspect: image_info and what its config says.
struct image_detail {
  image_info info;
  std::vector<std::string> layers;  ///< Layer digests, bottom first.
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> labels;
  api::healthcheck healthcheck;  ///< config.Healthcheck; an empty test: none.
  MSGPACK_DEFINE_MAP(info, layers, entrypoint, cmd, env, workdir, user, stop_signal, exposed_ports,
                     volumes, labels, healthcheck);
};

/// Argument of registry.login: checked against the registry before it is stored.
struct login_request {
  std::string server;  ///< "host:port" ("docker.io" for Docker Hub).
  std::string username;
  std::string password;
  MSGPACK_DEFINE_MAP(server, username, password);
};

/// Argument of registry.logout.
struct logout_request {
  std::string server;
  MSGPACK_DEFINE_MAP(server);
};

/// A published port (-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]).
struct port_mapping {
  std::string host_ip;         ///< "" = all addresses (0.0.0.0).
  uint16_t host_port = 0;      ///< 0 = any free port (-P, or -p CONTAINER_PORT).
  uint16_t container_port = 0;
  std::string protocol = "tcp";  ///< "tcp" or "udp".
  MSGPACK_DEFINE_MAP(host_ip, host_port, container_port, protocol);
};

/// A container's place on one network.
struct endpoint {
  std::string network;             ///< Network name.
  std::string ip;                  ///< "10.88.0.5".
  uint8_t prefix_len = 0;          ///< 16 for 10.88.0.0/16.
  std::string gateway;             ///< "10.88.0.1" ("" for internal networks: no default route).
  std::string mac;                 ///< "02:42:..." stable for the container on this network.
  std::vector<std::string> aliases;  ///< --network-alias names it answers to, besides its name.
  MSGPACK_DEFINE_MAP(network, ip, prefix_len, gateway, mac, aliases);
};

/// A filesystem a container gets besides its root (-v, --mount, --tmpfs).
struct mount {
  std::string type;     ///< "volume" (a named volume), "bind" (a host directory) or "tmpfs".
  std::string source;   ///< Volume name or absolute host path; empty for tmpfs.
  std::string target;   ///< Absolute path in the container.
  bool readonly = false;
  std::string options;  ///< tmpfs: "size=64m,mode=1777".
  MSGPACK_DEFINE_MAP(type, source, target, readonly, options);
};

/// Argument of container.create: what `berth run` and `berth create` ask for.
struct container_spec {
  std::string name;                     ///< Empty: berthd picks one.
  std::string image;                    ///< Reference as typed ("busybox").
  std::vector<std::string> cmd;         ///< Arguments after the image; empty: the image's Cmd.
  std::vector<std::string> entrypoint;  ///< --entrypoint, when entrypoint_set.
  bool entrypoint_set = false;          ///< Distinguishes --entrypoint "" from no flag.
  std::vector<std::string> env;         ///< -e KEY=VALUE, applied over the image's Env.
  std::string workdir;                  ///< -w; empty: the image's WorkingDir.
  std::string user;                     ///< -u; empty: the image's User.
  std::string hostname;                 ///< -h; empty: the short container id.
  double cpus = 0;                      ///< --cpus; 0: the daemon's default.
  int64_t memory = 0;                   ///< --memory in bytes; 0: the daemon's default.
  bool auto_remove = false;             ///< --rm: removed when it exits.
  bool tty = false;                     ///< -t: the main process runs on a terminal.
  bool open_stdin = false;              ///< -i: its stdin stays open for attached clients.
  bool init = false;                    ///< --init: a tiny init is PID 1 and reaps.
  std::string restart;                  ///< --restart: no, on-failure[:N], always, unless-stopped.
  bool read_only = false;               ///< --read-only root filesystem.
  std::vector<mount> mounts;            ///< -v, --mount and --tmpfs, in order.
  std::string stop_signal;              ///< --stop-signal; empty: the image's, else SIGTERM.
  int32_t stop_timeout = -1;            ///< --stop-timeout in seconds; -1: 10.
  std::string network;                  ///< --network: a network name, "none" or "user";
                                        ///< empty: the default network.
  std::string ip;                       ///< --ip on that network; empty: the next free one.
  std::vector<std::string> network_aliases;  ///< --network-alias.
  std::vector<std::string> dns;         ///< --dns servers; empty: the network's resolver.
  std::vector<port_mapping> ports;      ///< -p.
  bool publish_all = false;             ///< -P: every port the image exposes, on free ports.
  api::healthcheck healthcheck;         ///< --health-*, over the image's field by field;
                                        ///< --no-healthcheck: test ["NONE"].
  MSGPACK_DEFINE_MAP(name, image, cmd, entrypoint, entrypoint_set, env, workdir, user, hostname,
                     cpus, memory, auto_remove, tty, open_stdin, init, restart, read_only, mounts,
                     stop_signal, stop_timeout, network, ip, network_aliases, dns, ports,
                     publish_all, healthcheck);
};

/// Result of container.create.
struct created {
  std::string id;
  std::string name;
  MSGPACK_DEFINE_MAP(id, name);
};

/// Names a container by name, id or unique id prefix.
struct container_ref {
  std::string container;
  MSGPACK_DEFINE_MAP(container);
};

/// Argument of debug.crash: the actor to crash, "store", "images", "nets" or "vms" (a
/// supervisor, with everything under it), or the name or id of a container (its vm actor).
struct crash_request {
  std::string target;
  MSGPACK_DEFINE_MAP(target);
};

/// Argument of container.stop and container.restart.
struct stop_request {
  std::string container;
  int32_t timeout = -2;  ///< Seconds between the stop signal and SIGKILL; -1 waits forever;
                         ///< -2: the container's stop timeout (default 10).
  std::string signal;    ///< Stop only: the signal to send first; empty: the container's.
  MSGPACK_DEFINE_MAP(container, timeout, signal);
};

/// Argument of container.kill.
struct kill_request {
  std::string container;
  std::string signal = "SIGKILL";  ///< Name ("SIGHUP", "HUP") or number.
  MSGPACK_DEFINE_MAP(container, signal);
};

/// Argument of container.attach: which container, and whether the client sends stdin.
struct attach_request {
  std::string container;
  bool stdin = false;  ///< Send stream.stdin on the stream (the container must have -i).
  MSGPACK_DEFINE_MAP(container, stdin);
};

/// Argument of container.exec: a process started in a running container.
struct exec_request {
  std::string container;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  ///< Over the container's environment.
  std::string workdir;           ///< Empty: the container's.
  std::string user;              ///< Empty: the container's.
  bool tty = false;
  bool open_stdin = false;
  bool detach = false;           ///< No stream: the answer comes once it started.
  uint16_t rows = 24;
  uint16_t cols = 80;
  MSGPACK_DEFINE_MAP(container, cmd, env, workdir, user, tty, open_stdin, detach, rows, cols);
};

/// Result of container.exec.
struct exec_started {
  std::string exec_id;
  uint32_t stream_id = 0;  ///< 0 with detach; else its output, ending with its exit code.
  MSGPACK_DEFINE_MAP(exec_id, stream_id);
};

/// Argument of stream.stdin: bytes for the stream's process, answered once written in the guest.
struct stdin_request {
  uint32_t stream_id = 0;
  std::vector<char> data;  ///< At most 1 MiB.
  MSGPACK_DEFINE_MAP(stream_id, data);
};

/// Argument of stream.resize.
struct resize_request {
  uint32_t stream_id = 0;
  uint16_t rows = 24;
  uint16_t cols = 80;
  MSGPACK_DEFINE_MAP(stream_id, rows, cols);
};

/// Result of container.ping: the guest agent answered a ping.
struct ping_result {
  uint64_t agent_rtt_ns = 0;  ///< The round trip between berthd and berth-init, as berthd measured it.
  MSGPACK_DEFINE_MAP(agent_rtt_ns);
};

/// Result of container.stats.
struct container_stats {
  std::string id;
  std::string name;
  uint64_t cpu_ns = 0;          ///< Guest CPU time used since boot.
  uint32_t cpus = 0;
  uint64_t memory_used = 0;     ///< The guest's own view (MemTotal - MemAvailable).
  uint64_t memory_limit = 0;    ///< The guest's memory.
  uint64_t host_rss = 0;        ///< Resident memory of the VM's QEMU on the host.
  uint64_t block_read = 0;
  uint64_t block_write = 0;
  uint64_t net_rx = 0;
  uint64_t net_tx = 0;
  uint32_t pids = 0;
  int64_t time = 0;             ///< When measured (unix ns), for rates between two calls.
  MSGPACK_DEFINE_MAP(id, name, cpu_ns, cpus, memory_used, memory_limit, host_rss, block_read,
                     block_write, net_rx, net_tx, pids, time);
};

/// Bytes one container.file.read returns, and one container.file.write takes, at most.
constexpr uint32_t max_file_chunk = 1u << 20;

/// Names a path in a container (container.file.stat, container.file.list). Paths are absolute
/// and resolved inside the container's root, never outside it.
struct file_ref {
  std::string container;
  std::string path;
  MSGPACK_DEFINE_MAP(container, path);
};

/// A file in a container: the result of container.file.stat (the path itself, a final symlink
/// not followed) and, one per entry, of container.file.list.
struct file_info {
  std::string path;     ///< stat: as asked; list: the entry's name (one path component).
  std::string type;     ///< "file", "dir", "symlink" or "other" (devices, FIFOs, sockets).
  uint32_t mode = 0;    ///< Permission bits (07777).
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  ///< Modification time, ns since the epoch.
  std::string link;     ///< A symlink's target, as stored.
  MSGPACK_DEFINE_MAP(path, type, mode, uid, gid, size, mtime_ns, link);
};

/// Argument of container.file.read: up to `length` bytes of a regular file from `offset`.
struct file_read_request {
  std::string container;
  std::string path;
  uint64_t offset = 0;
  uint32_t length = max_file_chunk;  ///< At most max_file_chunk.
  MSGPACK_DEFINE_MAP(container, path, offset, length);
};

/// Result of container.file.read.
struct file_data {
  std::vector<char> data;
  bool eof = false;  ///< No byte follows `data`.
  MSGPACK_DEFINE_MAP(data, eof);
};

/// Argument of container.file.write: bytes at `offset` of a regular file; with `create` the file
/// is made (or truncated) first with mode, uid and gid. A symlink in its place is refused.
struct file_write_request {
  std::string container;
  std::string path;
  uint64_t offset = 0;
  std::vector<char> data;  ///< At most max_file_chunk.
  bool create = false;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  MSGPACK_DEFINE_MAP(container, path, offset, data, create, mode, uid, gid);
};

/// Argument of container.file.mkdir (path, mode, uid, gid, mtime_ns), container.file.symlink
/// (path, link, uid, gid, mtime_ns) and container.file.set_times (path, mtime_ns). An mtime_ns
/// of 0 leaves the times of a new directory or symlink as they come.
struct file_spec {
  std::string container;
  std::string path;
  uint32_t mode = 0755;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  std::string link;
  MSGPACK_DEFINE_MAP(container, path, mode, uid, gid, mtime_ns, link);
};

/// Argument of volume.create.
struct volume_create_request {
  std::string name;    ///< Empty: a random name.
  int64_t size = 0;    ///< Bytes; 0: the default (10 GiB, sparse).
  MSGPACK_DEFINE_MAP(name, size);
};

/// Names a volume.
struct volume_ref {
  std::string name;
  MSGPACK_DEFINE_MAP(name);
};

/// Argument of volume.remove.
struct volume_remove_request {
  std::string name;
  bool force = false;
  MSGPACK_DEFINE_MAP(name, force);
};

/// A named volume.
struct volume_info {
  std::string name;
  std::string driver = "ext4-disk";
  std::string mountpoint;              ///< Its disk image on the host.
  int64_t size = 0;                    ///< Capacity in bytes.
  int64_t used = 0;                    ///< Bytes the disk image takes on the host.
  int64_t created = 0;                 ///< Unix ns.
  std::vector<std::string> containers; ///< Containers that mount it.
  MSGPACK_DEFINE_MAP(name, driver, mountpoint, size, used, created, containers);
};

/// Argument of container.remove.
struct remove_request {
  std::string container;
  bool force = false;  ///< Stop a running container first.
  MSGPACK_DEFINE_MAP(container, force);
};

/// Argument of container.list.
struct list_request {
  bool all = false;  ///< Include containers that are not running.
  MSGPACK_DEFINE_MAP(all);
};

/// Argument of container.logs.
struct logs_request {
  std::string container;
  bool timestamps = false;
  bool follow = false;  ///< Keep streaming new output until the container exits.
  int64_t tail = -1;    ///< Only the last N lines; -1: all.
  bool boot = false;    ///< The VM's console (kernel and berth-init) instead of the output.
  MSGPACK_DEFINE_MAP(container, timestamps, follow, tail, boot);
};

/// A container as `ps` and `inspect` show it.
struct container_info {
  std::string id;
  std::string name;
  std::string image;                 ///< Reference as typed at create.
  std::string image_id;
  std::vector<std::string> command;  ///< The resolved argv of the main process.
  std::string state;                 ///< created, starting, running, stopping, exited.
  int32_t exit_code = 0;
  std::string reason;                ///< Why it exited, or why it failed to start.
  int64_t created = 0;               ///< Unix time in nanoseconds.
  int64_t started = 0;
  int64_t finished = 0;
  int64_t pid = 0;                   ///< Host pid of its QEMU, 0 when not running.
  uint32_t cpus = 0;
  int64_t memory = 0;                ///< Guest memory in bytes.
  bool auto_remove = false;
  std::string restart;               ///< Restart policy.
  uint32_t restart_count = 0;        ///< Times the policy restarted it.
  bool tty = false;
  bool open_stdin = false;
  bool read_only = false;
  std::vector<mount> mounts;
  std::string hostname;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string network_mode;          ///< "bridge", "none" or "user".
  std::vector<endpoint> networks;    ///< Its place on each network it is on.
  std::vector<port_mapping> ports;   ///< Published ports as they are open (host ports resolved).
  api::healthcheck healthcheck;      ///< Its check, image and flags merged; an empty test: none.
  health_state health;               ///< Its health while it runs (and as last seen once it ended).
  MSGPACK_DEFINE_MAP(id, name, image, image_id, command, state, exit_code, reason, created,
                     started, finished, pid, cpus, memory, auto_remove, restart, restart_count,
                     tty, open_stdin, read_only, mounts, hostname, env, workdir, user,
                     network_mode, networks, ports, healthcheck, health);
};

/// Argument of network.create.
struct network_create_request {
  std::string name;
  std::string subnet;    ///< "10.90.0.0/24"; empty: the next free /24 of berthd's pool.
  std::string gateway;   ///< Empty: the first address of the subnet.
  bool internal = false; ///< No way out: no NAT, no default route for its containers.
  MSGPACK_DEFINE_MAP(name, subnet, gateway, internal);
};

/// Names a network.
struct network_ref {
  std::string name;
  MSGPACK_DEFINE_MAP(name);
};

/// Argument of network.connect and network.disconnect.
struct network_connect_request {
  std::string network;
  std::string container;
  std::string ip;                    ///< connect: --ip, empty: the next free one.
  std::vector<std::string> aliases;  ///< connect: --alias.
  MSGPACK_DEFINE_MAP(network, container, ip, aliases);
};

/// A container's lease on a network, as network inspect shows it.
struct network_lease {
  std::string container;  ///< Container id.
  std::string name;       ///< Container name.
  std::string ip;
  std::string mac;
  MSGPACK_DEFINE_MAP(container, name, ip, mac);
};

/// A network.
struct network_info {
  std::string name;
  std::string id;         ///< 64 hex digits.
  std::string driver = "bridge";
  std::string subnet;
  std::string gateway;
  std::string bridge;     ///< The Linux bridge on the host.
  bool internal = false;
  int64_t created = 0;    ///< Unix ns.
  std::vector<network_lease> leases;
  MSGPACK_DEFINE_MAP(name, id, driver, subnet, gateway, bridge, internal, created, leases);
};

/// Result of container.wait.
struct exit_info {
  int32_t exit_code = 0;
  std::string reason;
  MSGPACK_DEFINE_MAP(exit_code, reason);
};

/// Result of calls that open a stream of notifications.
struct stream {
  uint32_t stream_id = 0;
  MSGPACK_DEFINE_MAP(stream_id);
};

/// One piece of a stream: bytes of stdout (1) or stderr (2).
struct stream_data {
  uint32_t stream_id = 0;
  uint8_t fd = 1;
  int64_t time = 0;  ///< Unix time in nanoseconds when the bytes were written, if known.
  std::vector<char> data;
  MSGPACK_DEFINE_MAP(stream_id, fd, time, data);
};

/// The last notification of a stream.
struct stream_end {
  uint32_t stream_id = 0;
  bool has_exit_code = false;  ///< Exec streams end with their process's exit code.
  int32_t exit_code = 0;
  std::string error;           ///< Set when the stream ended because something failed.
  MSGPACK_DEFINE_MAP(stream_id, has_exit_code, exit_code, error);
};

}  // namespace berth::api
