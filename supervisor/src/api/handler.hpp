// handler: what the request handlers of berthd's API see of a client session.
//
// A session (session.cpp) decodes requests and looks each method up in a route table; the table
// is built from one `*_routes` function per resource (system.cpp, containers.cpp, images.cpp,
// networks.cpp, volumes.cpp, files.cpp, streams.cpp), each registering its own methods. A
// handler converts its argument, asks the actor that owns the resource, and answers through the
// helpers here; the session itself knows no method. Private to berthd.
#pragma once

#include "berth/actors/images.hpp"
#include "berth/actors/nets.hpp"
#include "berth/actors/vms.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/supervisor/api_server.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/io/broker.hpp>
#include <caf/send.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace berth::api_server {

/// One image.load upload of a session: the writer that owns its spool file, and its size so far.
struct upload_state {
  caf::actor writer;
  uint64_t size = 0;
};

/// One open stream: who feeds it and, for stdin, which process it belongs to.
struct stream_state {
  caf::actor forwarder;
  std::string container;  ///< Container id; empty until the request that opened it succeeded.
  std::string process;    ///< The container id for its main process, else an exec id.
  bool stdin = false;     ///< The client may send stream.stdin.
};

/// A client connection: its decoder and what it opened (uploads, streams).
struct session_state {
  options opts;
  caf::io::connection_handle conn;
  rpc::decoder dec;
  std::map<uint32_t, upload_state> uploads;
  std::map<uint32_t, stream_state> streams;
  uint32_t next_upload = 1;
  uint32_t next_stream = 1;
  bool closing = false;
  /// Bytes written to the connection that the client has not read yet (CAF acknowledges what
  /// reached the socket). Streams wait while it exceeds opts.max_send_queue.
  std::size_t queued = 0;
  /// Streams whose forwarder waits for a go: the queue was full when it last sent.
  std::set<uint32_t> waiting;
  /// Reading the client's requests is paused: their answers went unread.
  bool reads_halted = false;

  /// Ends the upload writers (each deletes its spool file) and the stream forwarders.
  ~session_state();
};

using session_ptr = std::shared_ptr<session_state>;

/// Serves one request: converts its argument (rpc::arg; a call_error answers invalid_argument),
/// answers it now or later with reply()/reply_error().
using handler_fn = void (*)(caf::io::broker* self, const session_ptr& st, rpc::message& m);

/// Method name -> handler. Keys point at the string literals of api::method.
using route_table = std::unordered_map<std::string_view, handler_fn>;

/// The methods of each resource. debug.crash is routed only with `opts.fault_injection`.
void system_routes(route_table& table, const options& opts);
void container_routes(route_table& table);
void stream_routes(route_table& table);
void file_routes(route_table& table);
void volume_routes(route_table& table);
void network_routes(route_table& table);
void image_routes(route_table& table);

/// Every route berthd serves with `opts`.
route_table make_routes(const options& opts);

/// Writes already encoded bytes to the client (nothing once the session is closing).
void send_bytes(caf::io::broker* self, session_state& st, const std::string& bytes);

/// Answers request `id` with `value`.
template <class T>
void reply(caf::io::broker* self, session_state& st, uint32_t id, const T& value) {
  send_bytes(self, st, rpc::encode_result(id, value));
}

/// Answers request `id` with an error.
void reply_error(caf::io::broker* self, session_state& st, uint32_t id, const caf::error& err);

/// The error for a service of berthd (a child of the root) that is not running.
caf::error unavailable(const char* what);

/// Asks `h` (answering Result, or void) and answers request `id` with the result or error; null
/// `h` answers `if_down`.
template <class Result, class Handle, class... Ts>
void ask(caf::io::broker* self, const session_ptr& st, uint32_t id, const Handle& h,
         const caf::error& if_down, Ts&&... xs) {
  if (!h) return reply_error(self, *st, id, if_down);
  auto handle = self->request(h, caf::infinite, std::forward<Ts>(xs)...);
  if constexpr (std::is_void_v<Result>)
    handle.then([self, st, id] { reply(self, *st, id, api::empty{}); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
  else
    handle.then([self, st, id](Result& r) { reply(self, *st, id, r); },
                [self, st, id](caf::error& err) { reply_error(self, *st, id, err); });
}

/// Asks the vm supervisor, which owns containers and volumes.
template <class Result, class... Ts>
void vm_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  ask<Result>(self, st, id, vm_supervisor_of(self->home_system()), unavailable("container"),
              std::forward<Ts>(xs)...);
}

/// Asks the image supervisor.
template <class Result, class... Ts>
void image_call(caf::io::broker* self, const session_ptr& st, uint32_t id, Ts&&... xs) {
  ask<Result>(self, st, id, image_supervisor_of(self->home_system()), unavailable("image"),
              std::forward<Ts>(xs)...);
}

/// A stream a request opens: its id and its forwarder, which holds what it gets until released.
struct opened_stream {
  uint32_t id = 0;
  caf::actor forwarder;
};

/// Opens a stream in the session's table (not usable by stream.* calls until stream_ready). Its
/// forwarder ends it with an error when more than `max_backlog` bytes (0: the session's
/// opts.max_stream_backlog) wait for a client that does not read.
opened_stream add_stream(caf::io::broker* self, session_state& st, bool stdin,
                         std::size_t max_backlog = 0);

/// The request that opened `s` succeeded: records the process that feeds it, answers `result`
/// (which names the stream), then releases the forwarder, so no data precedes the answer.
template <class T>
void stream_ready(caf::io::broker* self, session_state& st, uint32_t id, const opened_stream& s,
                  std::string container, std::string process, const T& result) {
  if (auto it = st.streams.find(s.id); it != st.streams.end()) {
    it->second.container = std::move(container);
    it->second.process = std::move(process);
  }
  reply(self, st, id, result);
  caf::anon_send(s.forwarder, go_atom_v);
}

/// The request that opened `s` failed: drops the stream and answers the error.
void stream_failed(caf::io::broker* self, session_state& st, uint32_t id, const opened_stream& s,
                   const caf::error& err);

/// Ends an open stream with `err` (stream.end carrying the error), unless it already ended.
void end_stream(caf::io::broker* self, session_state& st, uint32_t stream, const caf::error& err);

/// The stream a stream.* request names, with stdin allowed when `need_stdin`.
caf::expected<stream_state*> stream_of(session_state& st, uint32_t stream, bool need_stdin);

}  // namespace berth::api_server
