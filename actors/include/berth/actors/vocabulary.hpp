// vocabulary: the one place that teaches CAF berth's types.
//
// Owns the project's single CAF type-ID block (every atom and every message type), the CAF
// registration of berth::errc, and inspect() for the wire structs of rpc/api.hpp,
// agent/protocol.hpp and records.hpp, made from the field list each struct declares once with
// BERTH_FIELDS, so one struct serves the wire and the actors alike.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/errc.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <string>
#include <string_view>
#include <type_traits>

CAF_ERROR_CODE_ENUM(berth::errc, "berth")

namespace berth {

/// The class of `err`: its own code for berth errors, a mapping for CAF's own errors.
errc code_of(const caf::error& err);

/// The text of `err` for people: the message given at make_error, or CAF's description.
std::string describe(const caf::error& err);

/// The registry key of the actor registered under `name` (a supervisor's or the store's). Through
/// std::string_view: clang finds no conversion from a `const char*` to CAF 0.17's string_view.
inline caf::atom_value registry_key(std::string_view name) {
  return caf::atom_from_string({name.data(), name.size()});
}

/// Makes a caf::error of class `code` carrying `text`.
inline caf::error make_error(errc code, std::string text) {
  return caf::make_error(code, std::move(text));
}

}  // namespace berth

namespace berth::fields {

/// CAF's inspect() for any struct with BERTH_FIELDS: its type name, then the same fields, in the
/// same order, as its msgpack map.
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  return x.berth_fields(
      [&f](auto&... xs) { return f(caf::meta::type_name(T::berth_type_name), xs...); });
}

/// Whether T lists its fields with BERTH_FIELDS.
template <class T, class = void>
struct has_fields : std::false_type {};

template <class T>
struct has_fields<T, std::void_t<decltype(T::berth_type_name)>> : std::true_type {};

}  // namespace berth::fields

// One inspect per namespace of wire structs, found by ADL; limited to types with BERTH_FIELDS so
// that it never competes with CAF's own (containers of these structs share their namespace).
namespace berth {

template <class Inspector, class T, class = std::enable_if_t<fields::has_fields<T>::value>>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  return fields::inspect(f, x);
}

}  // namespace berth

namespace berth::agent {

template <class Inspector, class T, class = std::enable_if_t<fields::has_fields<T>::value>>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  return fields::inspect(f, x);
}

}  // namespace berth::agent

namespace berth::api {

template <class Inspector, class T, class = std::enable_if_t<fields::has_fields<T>::value>>
typename Inspector::result_type inspect(Inspector& f, T& x) {
  return fields::inspect(f, x);
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
CAF_ADD_ATOM(berth, berth, beat_atom, "beat")
CAF_ADD_ATOM(berth, berth, backoff_atom, "backoff")

CAF_END_TYPE_ID_BLOCK(berth)
