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
// Only root, berthd's own user and members of its group (`group`) are served: every peer's
// credentials are checked (SO_PEERCRED) before its first byte is read, and at most
// `max_connections` clients are served at once. What berthd has written and a client not yet
// read is bounded per connection (`max_send_queue`): streams wait while it is full, and a stream
// that falls further behind than `max_stream_backlog` ends with an error (docs/protocol.md).
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
  /// Group whose members may connect (`--group`); empty: `berth` if it exists, else only root.
  std::string group;
  std::size_t max_connections = 256;           ///< Clients served at once (`--max-connections`).
  std::size_t max_send_queue = 4u << 20;       ///< Unread bytes per connection before streams wait.
  std::size_t max_stream_backlog = 16u << 20;  ///< Bytes a waiting stream may fall behind.
};

/// Binds `opts.host` (refusing if another berthd answers there) and spawns the listener,
/// linked to `parent`. The socket is removed when the listener exits.
caf::expected<caf::actor> spawn(caf::local_actor* parent, const options& opts);

}  // namespace berth::api_server
