// vocabulary: the one place that teaches CAF berth's types.
//
// Owns the project's single CAF type-ID block (every atom and every message type), the CAF
// registration of berth::errc, and inspect() for the wire structs of rpc/api.hpp and
// agent/protocol.hpp, so one struct serves the wire and the actors alike.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/errc.hpp"

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <string>

CAF_ERROR_CODE_ENUM(berth::errc, "berth")

namespace berth {

/// The class of `err`: its own code for berth errors, a mapping for CAF's own errors.
errc code_of(const caf::error& err);

/// The text of `err` for people: the message given at make_error, or CAF's description.
std::string describe(const caf::error& err);

/// Makes a caf::error of class `code` carrying `text`.
inline caf::error make_error(errc code, std::string text) {
  return caf::make_error(code, std::move(text));
}

}  // namespace berth

namespace berth {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_record& x) {
  return f(caf::meta::type_name("container_record"), x.id, x.name, x.image, x.image_id,
           x.image_disk, x.process, x.stop_signal, x.cpus, x.memory, x.auto_remove, x.state,
           x.exit_code, x.reason, x.created, x.started, x.finished, x.qemu_pid, x.vsock_cid,
           x.restart, x.restart_count, x.stopped_by_user, x.stop_timeout, x.read_only, x.mounts,
           x.network_mode, x.endpoints, x.dns, x.ports, x.published, x.healthcheck, x.health);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_record& x) {
  return f(caf::meta::type_name("network_record"), x.id, x.name, x.subnet, x.gateway, x.bridge,
           x.internal, x.created, x.leases);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_record& x) {
  return f(caf::meta::type_name("volume_record"), x.name, x.disk, x.size, x.created);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_record& x) {
  return f(caf::meta::type_name("image_record"), x.id, x.tags, x.manifest_digest, x.index_digest,
           x.repo_digests, x.os, x.architecture, x.layers, x.layer_types, x.size, x.disk,
           x.disk_size, x.created, x.loaded, x.entrypoint, x.cmd, x.env, x.workdir, x.user,
           x.stop_signal, x.exposed_ports, x.volumes, x.labels, x.healthcheck);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_runtime& x) {
  return f(caf::meta::type_name("image_runtime"), x.id, x.reference, x.disk, x.entrypoint, x.cmd,
           x.env, x.workdir, x.user, x.stop_signal, x.exposed_ports, x.healthcheck);
}

}  // namespace berth

namespace berth::agent {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_spec& x) {
  return f(caf::meta::type_name("process_spec"), x.id, x.args, x.env, x.cwd, x.user, x.hostname,
           x.terminal, x.open_stdin, x.rows, x.cols, x.init, x.join);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_stats& x) {
  return f(caf::meta::type_name("vm_stats"), x.cpu_ns, x.cpus, x.memory_total, x.memory_used,
           x.pids, x.disks, x.networks, x.uptime_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, io_counter& x) {
  return f(caf::meta::type_name("io_counter"), x.name, x.read_bytes, x.write_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exit_status& x) {
  return f(caf::meta::type_name("exit_status"), x.id, x.exit_code, x.signal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_chunk& x) {
  return f(caf::meta::type_name("output_chunk"), x.id, x.fd, x.data);
}

}  // namespace berth::agent

namespace berth::api {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, healthcheck& x) {
  return f(caf::meta::type_name("healthcheck"), x.test, x.interval, x.timeout, x.start_period,
           x.retries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_result& x) {
  return f(caf::meta::type_name("health_result"), x.start, x.end, x.exit_code, x.output);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_state& x) {
  return f(caf::meta::type_name("health_state"), x.status, x.failing_streak, x.log);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mount& x) {
  return f(caf::meta::type_name("mount"), x.type, x.source, x.target, x.readonly, x.options);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, port_mapping& x) {
  return f(caf::meta::type_name("port_mapping"), x.host_ip, x.host_port, x.container_port, x.protocol);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, endpoint& x) {
  return f(caf::meta::type_name("endpoint"), x.network, x.ip, x.prefix_len, x.gateway, x.mac, x.aliases);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_lease& x) {
  return f(caf::meta::type_name("network_lease"), x.container, x.name, x.ip, x.mac);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_info& x) {
  return f(caf::meta::type_name("network_info"), x.name, x.id, x.driver, x.subnet, x.gateway, x.bridge,
           x.internal, x.created, x.leases);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, network_create_request& x) {
  return f(caf::meta::type_name("network_create_request"), x.name, x.subnet, x.gateway, x.internal);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_create_request& x) {
  return f(caf::meta::type_name("volume_create_request"), x.name, x.size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, logs_request& x) {
  return f(caf::meta::type_name("logs_request"), x.container, x.timestamps, x.follow, x.tail, x.boot);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exec_request& x) {
  return f(caf::meta::type_name("exec_request"), x.container, x.cmd, x.env, x.workdir, x.user,
           x.tty, x.open_stdin, x.detach, x.rows, x.cols);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ping_result& x) {
  return f(caf::meta::type_name("ping_result"), x.agent_rtt_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_stats& x) {
  return f(caf::meta::type_name("container_stats"), x.id, x.name, x.cpu_ns, x.cpus, x.memory_used,
           x.memory_limit, x.host_rss, x.block_read, x.block_write, x.net_rx, x.net_tx, x.pids,
           x.time);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, volume_info& x) {
  return f(caf::meta::type_name("volume_info"), x.name, x.driver, x.mountpoint, x.size, x.used,
           x.created, x.containers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, system_info& x) {
  return f(caf::meta::type_name("system_info"), x.version, x.protocol, x.accelerator,
           x.accelerator_note, x.kernel, x.kernel_version, x.agent_transport, x.data_root, x.qemu,
           x.containers, x.containers_running, x.images);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_info& x) {
  return f(caf::meta::type_name("image_info"), x.id, x.tags, x.manifest_digest, x.os,
           x.architecture, x.size, x.disk_size, x.created);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_spec& x) {
  return f(caf::meta::type_name("container_spec"), x.name, x.image, x.cmd, x.entrypoint,
           x.entrypoint_set, x.env, x.workdir, x.user, x.hostname, x.cpus, x.memory,
           x.auto_remove, x.tty, x.open_stdin, x.init, x.restart, x.read_only, x.mounts,
           x.stop_signal, x.stop_timeout, x.network, x.ip, x.network_aliases, x.dns, x.ports,
           x.publish_all, x.healthcheck);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_info& x) {
  return f(caf::meta::type_name("container_info"), x.id, x.name, x.image, x.image_id, x.command,
           x.state, x.exit_code, x.reason, x.created, x.started, x.finished, x.pid, x.cpus,
           x.memory, x.auto_remove, x.restart, x.restart_count, x.tty, x.open_stdin, x.read_only,
           x.mounts, x.hostname, x.env, x.workdir, x.user, x.network_mode, x.networks, x.ports,
           x.healthcheck, x.health);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exit_info& x) {
  return f(caf::meta::type_name("exit_info"), x.exit_code, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pushed& x) {
  return f(caf::meta::type_name("pushed"), x.digest, x.size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress& x) {
  return f(caf::meta::type_name("progress"), x.reference, x.id, x.status, x.current, x.total);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, removed& x) {
  return f(caf::meta::type_name("removed"), x.untagged, x.deleted, x.reclaimed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, image_detail& x) {
  return f(caf::meta::type_name("image_detail"), x.info, x.layers, x.entrypoint, x.cmd, x.env,
           x.workdir, x.user, x.stop_signal, x.exposed_ports, x.volumes, x.labels, x.healthcheck);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, created& x) {
  return f(caf::meta::type_name("created"), x.id, x.name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_ref& x) {
  return f(caf::meta::type_name("file_ref"), x.container, x.path);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_info& x) {
  return f(caf::meta::type_name("file_info"), x.path, x.type, x.mode, x.uid, x.gid, x.size,
           x.mtime_ns, x.link);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_read_request& x) {
  return f(caf::meta::type_name("file_read_request"), x.container, x.path, x.offset, x.length);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_data& x) {
  return f(caf::meta::type_name("file_data"), x.data, x.eof);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_write_request& x) {
  return f(caf::meta::type_name("file_write_request"), x.container, x.path, x.offset, x.data,
           x.create, x.mode, x.uid, x.gid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, file_spec& x) {
  return f(caf::meta::type_name("file_spec"), x.container, x.path, x.mode, x.uid, x.gid,
           x.mtime_ns, x.link);
}

}  // namespace berth::api

CAF_BEGIN_TYPE_ID_BLOCK(berth, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(berth, (berth::container_record))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::container_record>))
  CAF_ADD_TYPE_ID(berth, (berth::image_record))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::image_record>))
  CAF_ADD_TYPE_ID(berth, (berth::image_runtime))
  CAF_ADD_TYPE_ID(berth, (berth::network_record))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::network_record>))
  CAF_ADD_TYPE_ID(berth, (berth::api::endpoint))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::endpoint>))
  CAF_ADD_TYPE_ID(berth, (berth::api::port_mapping))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::port_mapping>))
  CAF_ADD_TYPE_ID(berth, (berth::api::network_info))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::network_info>))
  CAF_ADD_TYPE_ID(berth, (berth::api::network_create_request))
  CAF_ADD_TYPE_ID(berth, (berth::volume_record))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::volume_record>))
  CAF_ADD_TYPE_ID(berth, (berth::agent::process_spec))
  CAF_ADD_TYPE_ID(berth, (berth::agent::vm_stats))
  CAF_ADD_TYPE_ID(berth, (berth::api::exec_request))
  CAF_ADD_TYPE_ID(berth, (berth::api::logs_request))
  CAF_ADD_TYPE_ID(berth, (berth::api::volume_create_request))
  CAF_ADD_TYPE_ID(berth, (berth::api::container_stats))
  CAF_ADD_TYPE_ID(berth, (berth::api::volume_info))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::volume_info>))
  CAF_ADD_TYPE_ID(berth, (berth::agent::exit_status))
  CAF_ADD_TYPE_ID(berth, (berth::agent::output_chunk))
  CAF_ADD_TYPE_ID(berth, (berth::api::system_info))
  CAF_ADD_TYPE_ID(berth, (berth::api::image_info))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::image_info>))
  CAF_ADD_TYPE_ID(berth, (berth::api::container_spec))
  CAF_ADD_TYPE_ID(berth, (berth::api::container_info))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::container_info>))
  CAF_ADD_TYPE_ID(berth, (berth::api::exit_info))
  CAF_ADD_TYPE_ID(berth, (berth::api::created))
  CAF_ADD_TYPE_ID(berth, (berth::api::pushed))
  CAF_ADD_TYPE_ID(berth, (berth::api::progress))
  CAF_ADD_TYPE_ID(berth, (berth::api::removed))
  CAF_ADD_TYPE_ID(berth, (berth::api::image_detail))
  CAF_ADD_TYPE_ID(berth, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(berth, (std::vector<char>))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_ref))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_info))
  CAF_ADD_TYPE_ID(berth, (std::vector<berth::api::file_info>))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_read_request))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_data))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_write_request))
  CAF_ADD_TYPE_ID(berth, (berth::api::file_spec))
  CAF_ADD_TYPE_ID(berth, (berth::api::ping_result))

  // Atoms: the verbs of berth's actors (text at most 10 characters, each unique).
  CAF_ADD_ATOM(berth, berth, restart_atom, "restart")
  CAF_ADD_ATOM(berth, berth, create_atom, "create")
  CAF_ADD_ATOM(berth, berth, start_atom, "start")
  CAF_ADD_ATOM(berth, berth, stop_atom, "stop")
  CAF_ADD_ATOM(berth, berth, remove_atom, "remove")
  CAF_ADD_ATOM(berth, berth, list_atom, "list")
  CAF_ADD_ATOM(berth, berth, inspect_atom, "inspect")
  CAF_ADD_ATOM(berth, berth, wait_atom, "wait")
  CAF_ADD_ATOM(berth, berth, attach_atom, "attach")
  CAF_ADD_ATOM(berth, berth, detach_atom, "detach")
  CAF_ADD_ATOM(berth, berth, logs_atom, "logs")
  CAF_ADD_ATOM(berth, berth, info_atom, "info")
  CAF_ADD_ATOM(berth, berth, load_atom, "load")
  CAF_ADD_ATOM(berth, berth, resolve_atom, "resolve")
  CAF_ADD_ATOM(berth, berth, shutdown_atom, "shutdown")
  CAF_ADD_ATOM(berth, berth, keep_atom, "keep")
  CAF_ADD_ATOM(berth, berth, call_atom, "call")
  CAF_ADD_ATOM(berth, berth, notice_atom, "notice")
  CAF_ADD_ATOM(berth, berth, closed_atom, "closed")
  CAF_ADD_ATOM(berth, berth, exited_atom, "exited")
  CAF_ADD_ATOM(berth, berth, output_atom, "output")
  CAF_ADD_ATOM(berth, berth, end_atom, "end")
  CAF_ADD_ATOM(berth, berth, tick_atom, "tick")
  CAF_ADD_ATOM(berth, berth, go_atom, "go")
  CAF_ADD_ATOM(berth, berth, save_atom, "save")
  CAF_ADD_ATOM(berth, berth, erase_atom, "erase")
  CAF_ADD_ATOM(berth, berth, all_atom, "all")
  CAF_ADD_ATOM(berth, berth, container_atom, "container")
  CAF_ADD_ATOM(berth, berth, image_atom, "image")
  CAF_ADD_ATOM(berth, berth, upload_atom, "upload")
  CAF_ADD_ATOM(berth, berth, pull_atom, "pull")
  CAF_ADD_ATOM(berth, berth, push_atom, "push")
  CAF_ADD_ATOM(berth, berth, tag_atom, "tag")
  CAF_ADD_ATOM(berth, berth, prune_atom, "prune")
  CAF_ADD_ATOM(berth, berth, progress_atom, "progress")
  CAF_ADD_ATOM(berth, berth, login_atom, "login")
  CAF_ADD_ATOM(berth, berth, logout_atom, "logout")
  CAF_ADD_ATOM(berth, berth, exec_atom, "exec")
  CAF_ADD_ATOM(berth, berth, stdin_atom, "stdin")
  CAF_ADD_ATOM(berth, berth, eof_atom, "eof")
  CAF_ADD_ATOM(berth, berth, resize_atom, "resize")
  CAF_ADD_ATOM(berth, berth, kill_atom, "kill")
  CAF_ADD_ATOM(berth, berth, stats_atom, "stats")
  CAF_ADD_ATOM(berth, berth, volume_atom, "volume")
  CAF_ADD_ATOM(berth, berth, copy_atom, "copy")
  CAF_ADD_ATOM(berth, berth, follow_atom, "follow")
  CAF_ADD_ATOM(berth, berth, network_atom, "network")
  CAF_ADD_ATOM(berth, berth, plug_atom, "plug")
  CAF_ADD_ATOM(berth, berth, unplug_atom, "unplug")
  CAF_ADD_ATOM(berth, berth, file_atom, "file")
  CAF_ADD_ATOM(berth, berth, read_atom, "read")
  CAF_ADD_ATOM(berth, berth, write_atom, "write")
  CAF_ADD_ATOM(berth, berth, mkdir_atom, "mkdir")
  CAF_ADD_ATOM(berth, berth, symlink_atom, "symlink")
  CAF_ADD_ATOM(berth, berth, touch_atom, "touch")
  CAF_ADD_ATOM(berth, berth, ping_atom, "ping")
  CAF_ADD_ATOM(berth, berth, health_atom, "health")
  CAF_ADD_ATOM(berth, berth, expire_atom, "expire")
  CAF_ADD_ATOM(berth, berth, crash_atom, "crash")
  CAF_ADD_ATOM(berth, berth, lease_atom, "lease")
  CAF_ADD_ATOM(berth, berth, release_atom, "release")

CAF_END_TYPE_ID_BLOCK(berth)
