// api_server: berthd's msgpack-RPC listener and its sessions, one broker per client connection.
//
// A session decodes requests (bounded by the codec's limits; a client that breaks the protocol
// is answered with a protocol error where possible and disconnected), routes each method of
// rpc/api.hpp through a table to the handler of its resource (supervisor/src/api/), which asks
// the actor that owns it (vm, image or net supervisor), and turns container output into
// stream.data / stream.end notifications. Streams start paused and are released only after the
// response that names them, so a client never sees data for a stream it does not know yet.
// Uploads (image.load.*) are spooled to a file by a writer on its own thread; the file is
// removed when the upload fails or ends or the client goes away.
#pragma once

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace berth::api_server {

/// How the server listens and where it spools uploads.
struct options {
  std::string host;                   ///< "unix:///run/berth/berthd.sock".
  std::filesystem::path upload_dir;   ///< DATA/tmp.
  std::string version;                ///< berthd's version for system.info.
  uint64_t max_upload = 64ull << 30;  ///< Largest image archive accepted.
  bool fault_injection = false;       ///< Serve debug.crash (tests only).
};

/// Binds `opts.host` (refusing if another berthd answers there) and spawns the listener,
/// linked to `parent`. The socket is removed when the listener exits.
caf::expected<caf::actor> spawn(caf::local_actor* parent, const options& opts);

}  // namespace berth::api_server
