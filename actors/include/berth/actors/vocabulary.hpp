// vocabulary: the one place that teaches CAF berth's types.
//
// Owns the project's single CAF type-ID block (every atom and every message type), the CAF
// registration of berth::errc, and inspect() for the wire structs of rpc/api.hpp and
// agent/protocol.hpp, so one struct serves the wire and the actors alike.
#pragma once

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

namespace berth::agent {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_spec& x) {
  return f(caf::meta::type_name("process_spec"), x.id, x.args, x.env, x.cwd, x.user, x.hostname);
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
           x.auto_remove);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_info& x) {
  return f(caf::meta::type_name("container_info"), x.id, x.name, x.image, x.image_id, x.command,
           x.state, x.exit_code, x.reason, x.created, x.started, x.finished, x.pid, x.cpus,
           x.memory, x.auto_remove);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exit_info& x) {
  return f(caf::meta::type_name("exit_info"), x.exit_code, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, created& x) {
  return f(caf::meta::type_name("created"), x.id, x.name);
}

}  // namespace berth::api

CAF_BEGIN_TYPE_ID_BLOCK(berth, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(berth, (berth::agent::process_spec))
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
  CAF_ADD_TYPE_ID(berth, (std::vector<std::string>))
  CAF_ADD_TYPE_ID(berth, (std::vector<char>))

CAF_END_TYPE_ID_BLOCK(berth)
