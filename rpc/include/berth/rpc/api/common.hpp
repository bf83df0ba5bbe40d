// api/common: the protocol version, every method and notification name, and the payloads that
// several resources share.
//
// Plain structs with BERTH_FIELDS: a map of named fields on the wire, so fields can be added
// without breaking older clients (unknown keys are ignored, missing keys keep their defaults),
// and the same field list for inspect() in actors/vocabulary.hpp. Part of the berthd wire
// (rpc/api.hpp includes every part); docs/protocol.md lists every method.
#pragma once

#include "berth/rpc/fields.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::api {

/// Version of the CLI <-> berthd protocol.
constexpr uint32_t protocol_version = 1;

/// Method names served by berthd.
namespace method {
constexpr std::string_view system_info = "system.info";  ///< -> system_info
constexpr std::string_view system_ping = "system.ping";  ///< -> empty
/// Only with `berthd --fault-injection` (tests): crashes one actor of the tree.
constexpr std::string_view debug_crash = "debug.crash";            ///< crash_request -> empty
constexpr std::string_view image_list = "image.list";              ///< -> [image_info]
constexpr std::string_view image_load_begin = "image.load.begin";  ///< -> upload
constexpr std::string_view image_load_chunk = "image.load.chunk";  ///< upload_chunk -> empty
constexpr std::string_view image_load_end = "image.load.end";      ///< upload -> [image_info]
constexpr std::string_view image_pull = "image.pull";              ///< pull_request -> image_info
constexpr std::string_view image_push = "image.push";              ///< push_request -> pushed
constexpr std::string_view image_tag = "image.tag";                ///< tag_request -> empty
constexpr std::string_view image_remove = "image.remove";      ///< image_remove_request -> removed
constexpr std::string_view image_prune = "image.prune";        ///< prune_request -> removed
constexpr std::string_view image_save = "image.save";          ///< save_request -> stream (tar)
constexpr std::string_view image_inspect = "image.inspect";    ///< image_ref -> image_detail
constexpr std::string_view registry_login = "registry.login";  ///< login_request -> empty
constexpr std::string_view registry_logout = "registry.logout";    ///< logout_request -> empty
constexpr std::string_view container_create = "container.create";  ///< container_spec -> created
constexpr std::string_view container_start = "container.start";    ///< container_ref -> empty
constexpr std::string_view container_attach = "container.attach";  ///< container_ref -> stream
constexpr std::string_view container_wait = "container.wait";      ///< container_ref -> exit_info
constexpr std::string_view container_stop = "container.stop";      ///< stop_request -> empty
constexpr std::string_view container_remove = "container.remove";  ///< remove_request -> empty
constexpr std::string_view container_list = "container.list";  ///< list_request -> [container_info]
constexpr std::string_view container_inspect =
    "container.inspect";                                       ///< container_ref -> container_info
constexpr std::string_view container_logs = "container.logs";  ///< logs_request -> stream
constexpr std::string_view container_exec = "container.exec";  ///< exec_request -> exec_started
constexpr std::string_view container_kill = "container.kill";  ///< kill_request -> empty
constexpr std::string_view container_restart = "container.restart";  ///< stop_request -> empty
constexpr std::string_view container_stats =
    "container.stats";                                         ///< container_ref -> container_stats
constexpr std::string_view container_ping = "container.ping";  ///< container_ref -> ping_result
constexpr std::string_view container_prune = "container.prune";  ///< empty -> removed
constexpr std::string_view file_stat = "container.file.stat";    ///< file_ref -> file_info
constexpr std::string_view file_list = "container.file.list";    ///< file_ref -> [file_info]
constexpr std::string_view file_read = "container.file.read";    ///< file_read_request -> file_data
constexpr std::string_view file_write = "container.file.write";  ///< file_write_request -> empty
constexpr std::string_view file_mkdir = "container.file.mkdir";  ///< file_spec -> empty
constexpr std::string_view file_symlink = "container.file.symlink";      ///< file_spec -> empty
constexpr std::string_view file_set_times = "container.file.set_times";  ///< file_spec -> empty
constexpr std::string_view stream_stdin = "stream.stdin";                ///< stdin_request -> empty
constexpr std::string_view stream_close_stdin = "stream.close_stdin";    ///< stream -> empty
constexpr std::string_view stream_resize = "stream.resize";  ///< resize_request -> empty
constexpr std::string_view volume_create =
    "volume.create";                                     ///< volume_create_request -> volume_info
constexpr std::string_view volume_list = "volume.list";  ///< empty -> [volume_info]
constexpr std::string_view volume_inspect = "volume.inspect";  ///< volume_ref -> volume_info
constexpr std::string_view volume_remove = "volume.remove";    ///< volume_remove_request -> empty
constexpr std::string_view volume_prune = "volume.prune";      ///< empty -> removed
constexpr std::string_view network_create =
    "network.create";  ///< network_create_request -> network_info
constexpr std::string_view network_list = "network.list";        ///< empty -> [network_info]
constexpr std::string_view network_inspect = "network.inspect";  ///< network_ref -> network_info
constexpr std::string_view network_remove = "network.remove";    ///< network_ref -> empty
constexpr std::string_view network_prune = "network.prune";      ///< empty -> removed
constexpr std::string_view network_connect =
    "network.connect";  ///< network_connect_request -> empty
constexpr std::string_view network_disconnect =
    "network.disconnect";  ///< network_connect_request -> empty

/// Every method name above, for tables and tests. network_connect and network_disconnect are
/// named but not served yet (docs/protocol.md).
inline constexpr std::array<std::string_view, 53> all = {
    system_info,      system_ping,      debug_crash,        image_list,        image_load_begin,
    image_load_chunk, image_load_end,   image_pull,         image_push,        image_tag,
    image_remove,     image_prune,      image_save,         image_inspect,     registry_login,
    registry_logout,  container_create, container_start,    container_attach,  container_wait,
    container_stop,   container_remove, container_list,     container_inspect, container_logs,
    container_exec,   container_kill,   container_restart,  container_stats,   container_ping,
    container_prune,  file_stat,        file_list,          file_read,         file_write,
    file_mkdir,       file_symlink,     file_set_times,     stream_stdin,      stream_close_stdin,
    stream_resize,    volume_create,    volume_list,        volume_inspect,    volume_remove,
    volume_prune,     network_create,   network_list,       network_inspect,   network_remove,
    network_prune,    network_connect,  network_disconnect,
};
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
  void msgpack_pack(Packer& pk) const {
    pk.pack_map(0);
  }
  void msgpack_unpack(const msgpack::object&) {}
};

/// Result of image.remove and image.prune, in Docker's words.
struct removed {
  std::vector<std::string> untagged;  ///< References that no longer name an image.
  std::vector<std::string> deleted;   ///< Image ids and blob digests that are gone.
  uint64_t reclaimed = 0;             ///< Bytes freed on disk.
  BERTH_FIELDS(removed, untagged, deleted, reclaimed);
};

}  // namespace berth::api
