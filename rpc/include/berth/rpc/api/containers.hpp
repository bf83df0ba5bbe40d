// api/containers: container.* payloads: create, lifecycle, exec, logs, stats, inspect.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"
#include "berth/rpc/api/health.hpp"
#include "berth/rpc/api/log_options.hpp"
#include "berth/rpc/api/networks.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace berth::api {

/// A filesystem a container gets besides its root (-v, --mount, --tmpfs).
struct mount {
  std::string type;    ///< "volume" (a named volume), "bind" (a host directory) or "tmpfs".
  std::string source;  ///< Volume name or absolute host path; empty for tmpfs.
  std::string target;  ///< Absolute path in the container.
  bool readonly = false;
  std::string options;  ///< tmpfs: "size=64m,mode=1777".
  BERTH_FIELDS(mount, type, source, target, readonly, options);
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
  std::vector<std::string> network_aliases;   ///< --network-alias.
  std::vector<std::string> dns;               ///< --dns servers; empty: the network's resolver.
  std::vector<port_mapping> ports;            ///< -p.
  bool publish_all = false;                   ///< -P: every port the image exposes, on free ports.
  api::healthcheck healthcheck;               ///< --health-*, over the image's field by field;
                                              ///< --no-healthcheck: test ["NONE"].
  std::map<std::string, std::string> labels;  ///< --label KEY[=VALUE], over the image's labels.
  std::map<std::string, std::string> log_opts;  ///< --log-opt KEY=VALUE: max-size, max-file.
  BERTH_FIELDS(container_spec, name, image, cmd, entrypoint, entrypoint_set, env, workdir, user,
               hostname, cpus, memory, auto_remove, tty, open_stdin, init, restart, read_only,
               mounts, stop_signal, stop_timeout, network, ip, network_aliases, dns, ports,
               publish_all, healthcheck, labels, log_opts);
};

/// Result of container.create.
struct created {
  std::string id;
  std::string name;
  BERTH_FIELDS(created, id, name);
};

/// Names a container by name, id or unique id prefix.
struct container_ref {
  std::string container;
  BERTH_FIELDS(container_ref, container);
};

/// Argument of container.stop and container.restart.
struct stop_request {
  std::string container;
  int32_t timeout = -2;  ///< Seconds between the stop signal and SIGKILL; -1 waits forever;
                         ///< -2: the container's stop timeout (default 10).
  std::string signal;    ///< Stop only: the signal to send first; empty: the container's.
  BERTH_FIELDS(stop_request, container, timeout, signal);
};

/// Argument of container.kill.
struct kill_request {
  std::string container;
  std::string signal = "SIGKILL";  ///< Name ("SIGHUP", "HUP") or number.
  BERTH_FIELDS(kill_request, container, signal);
};

/// Argument of container.attach: which container, and whether the client sends stdin.
struct attach_request {
  std::string container;
  bool stdin = false;  ///< Send stream.stdin on the stream (the container must have -i).
  BERTH_FIELDS(attach_request, container, stdin);
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
  bool detach = false;  ///< No stream: the answer comes once it started.
  uint16_t rows = 24;
  uint16_t cols = 80;
  BERTH_FIELDS(exec_request, container, cmd, env, workdir, user, tty, open_stdin, detach, rows,
               cols);
};

/// Result of container.exec.
struct exec_started {
  std::string exec_id;
  uint32_t stream_id = 0;  ///< 0 with detach; else its output, ending with its exit code.
  BERTH_FIELDS(exec_started, exec_id, stream_id);
};

/// Result of container.ping: the guest agent answered a ping.
struct ping_result {
  uint64_t agent_rtt_ns =
      0;  ///< The round trip between berthd and berth-init, as berthd measured it.
  BERTH_FIELDS(ping_result, agent_rtt_ns);
};

/// Result of container.stats.
struct container_stats {
  std::string id;
  std::string name;
  uint64_t cpu_ns = 0;  ///< Guest CPU time used since boot.
  uint32_t cpus = 0;
  uint64_t memory_used = 0;   ///< The guest's own view (MemTotal - MemAvailable).
  uint64_t memory_limit = 0;  ///< The guest's memory.
  uint64_t host_rss = 0;      ///< Resident memory of the VM's QEMU on the host.
  uint64_t block_read = 0;
  uint64_t block_write = 0;
  uint64_t net_rx = 0;
  uint64_t net_tx = 0;
  uint32_t pids = 0;
  int64_t time = 0;  ///< When measured (unix ns), for rates between two calls.
  BERTH_FIELDS(container_stats, id, name, cpu_ns, cpus, memory_used, memory_limit, host_rss,
               block_read, block_write, net_rx, net_tx, pids, time);
};

/// Argument of container.remove.
struct remove_request {
  std::string container;
  bool force = false;  ///< Stop a running container first.
  BERTH_FIELDS(remove_request, container, force);
};

/// Argument of container.list.
struct list_request {
  bool all = false;  ///< Include containers that are not running.
  BERTH_FIELDS(list_request, all);
};

/// Argument of container.logs.
struct logs_request {
  std::string container;
  bool timestamps = false;
  bool follow = false;  ///< Keep streaming new output until the container exits.
  int64_t tail = -1;    ///< Only the last N lines; -1: all.
  bool boot = false;    ///< The VM's console (kernel and berth-init) instead of the output.
  BERTH_FIELDS(logs_request, container, timestamps, follow, tail, boot);
};

/// A container as `ps` and `inspect` show it.
struct container_info {
  std::string id;
  std::string name;
  std::string image;  ///< Reference as typed at create.
  std::string image_id;
  std::vector<std::string> command;  ///< The resolved argv of the main process.
  std::string state;                 ///< created, starting, running, stopping, exited.
  int32_t exit_code = 0;
  std::string reason;   ///< Why it exited, or why it failed to start.
  int64_t created = 0;  ///< Unix time in nanoseconds.
  int64_t started = 0;
  int64_t finished = 0;
  int64_t pid = 0;  ///< Host pid of its QEMU, 0 when not running.
  uint32_t cpus = 0;
  int64_t memory = 0;  ///< Guest memory in bytes.
  bool auto_remove = false;
  std::string restart;         ///< Restart policy.
  uint32_t restart_count = 0;  ///< Times the policy restarted it.
  bool tty = false;
  bool open_stdin = false;
  bool read_only = false;
  std::vector<mount> mounts;
  std::string hostname;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string network_mode;         ///< "bridge", "none" or "user".
  std::vector<endpoint> networks;   ///< Its place on each network it is on.
  std::vector<port_mapping> ports;  ///< Published ports as they are open (host ports resolved).
  api::healthcheck healthcheck;     ///< Its check, image and flags merged; an empty test: none.
  health_state health;              ///< Its health while it runs (and as last seen once it ended).
  std::map<std::string, std::string> labels;  ///< The image's labels with --label over them.
  api::log_config log_config;                 ///< How its output log rotates (defaults filled).
  BERTH_FIELDS(container_info, id, name, image, image_id, command, state, exit_code, reason,
               created, started, finished, pid, cpus, memory, auto_remove, restart, restart_count,
               tty, open_stdin, read_only, mounts, hostname, env, workdir, user, network_mode,
               networks, ports, healthcheck, health, labels, log_config);
};

/// Result of container.wait.
struct exit_info {
  int32_t exit_code = 0;
  std::string reason;
  BERTH_FIELDS(exit_info, exit_code, reason);
};

}  // namespace berth::api
