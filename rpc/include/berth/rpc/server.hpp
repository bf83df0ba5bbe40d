// server: berthd's msgpack-RPC listener and its sessions, one broker per client connection.
//
// A session decodes requests (bounded by the codec's limits; a client that breaks the protocol
// is answered with a protocol error where possible and disconnected), routes each method of
// rpc/api.hpp to the actor that owns it (vm supervisor, image supervisor), and turns container
// output into stream.data / stream.end notifications. Streams start paused and are released
// only after the response that names them, so a client never sees data for a stream it does
// not know yet. Uploads (image.load.*) are spooled to a file that is removed when the upload
// ends or the client goes away.
#pragma once

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <filesystem>
#include <string>

namespace berth::rpc {

/// How the server listens and where it spools uploads.
struct server_options {
  std::string host;                    ///< "unix:///run/berth/berthd.sock".
  std::filesystem::path upload_dir;    ///< DATA/tmp.
  std::string version;                 ///< berthd's version for system.info.
  uint64_t max_upload = 64ull << 30;   ///< Largest image archive accepted.
  bool fault_injection = false;        ///< Serve debug.crash (tests only).
};

/// Binds `opts.host` (refusing if another berthd answers there) and spawns the listener,
/// linked to `parent`. The socket is removed when the listener exits.
caf::expected<caf::actor> spawn_rpc_server(caf::local_actor* parent, const server_options& opts);

}  // namespace berth::rpc
