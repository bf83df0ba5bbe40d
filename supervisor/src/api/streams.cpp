// streams.cpp: stream.stdin, stream.close_stdin and stream.resize: calls on a stream a
// container.attach or container.exec opened, for the process that feeds it.
#include "api/handler.hpp"

namespace berth::api_server {

namespace {

void write_stdin(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::stdin_request>(m);
  if (req.data.size() > (1u << 20))
    return reply_error(self, *st, m.id,
                       make_error(errc::invalid_argument, "stdin chunks are at most 1 MiB"));
  auto s = stream_of(*st, req.stream_id, true);
  if (!s) return reply_error(self, *st, m.id, s.error());
  vm_call<void>(self, st, m.id, stdin_atom_v, (*s)->container, (*s)->process, std::move(req.data));
}

void close_stdin(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto s = stream_of(*st, rpc::arg<api::stream>(m).stream_id, true);
  if (!s) return reply_error(self, *st, m.id, s.error());
  vm_call<void>(self, st, m.id, eof_atom_v, (*s)->container, (*s)->process);
}

void resize(caf::io::broker* self, const session_ptr& st, rpc::message& m) {
  auto req = rpc::arg<api::resize_request>(m);
  auto s = stream_of(*st, req.stream_id, false);
  if (!s) return reply_error(self, *st, m.id, s.error());
  vm_call<void>(self, st, m.id, resize_atom_v, (*s)->container, (*s)->process, req.rows, req.cols);
}

}  // namespace

void stream_routes(route_table& table) {
  table.emplace(api::method::stream_stdin, write_stdin);
  table.emplace(api::method::stream_close_stdin, close_stdin);
  table.emplace(api::method::stream_resize, resize);
}

}  // namespace berth::api_server
