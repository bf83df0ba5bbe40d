// session.cpp: one client connection: framing and decoding, the route table lookup, replies,
// and the stream table with the forwarders that turn actor output into notifications. No
// method is known here; the resource files register them (handler.hpp).
#include "api/session.hpp"

#include "api/handler.hpp"
#include "berth/actors/log.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/make_message.hpp>
#include <caf/send.hpp>

#include <vector>

namespace berth::api_server {

namespace {

inline constexpr log::logger session_log("rpc");

// Forwards one stream's messages to its session, tagged with the stream id. Starts paused:
// messages wait until the session has sent the response that names the stream (go_atom).
caf::behavior stream_forwarder(caf::event_based_actor* self, caf::actor session, uint32_t stream) {
  struct state {
    bool paused = true;
    std::vector<caf::message> held;
  };
  auto st = std::make_shared<state>();
  auto forward = [self, session, stream, st](caf::message msg) {
    if (st->paused) {
      st->held.push_back(std::move(msg));
      return;
    }
    if (msg.match_element<end_atom>(0)) {
      int32_t code = msg.size() > 2 && msg.match_element<int32_t>(2) ? msg.get_as<int32_t>(2) : -1;
      self->send(session, end_atom_v, stream, code);
      self->quit();
      return;
    }
    self->send(session, output_atom_v, stream, msg.get_as<uint8_t>(2), msg.get_as<int64_t>(3),
               msg.get_as<std::vector<char>>(4));
  };
  return {
      [forward](output_atom, const std::string& id, uint8_t fd, int64_t time,
                std::vector<char>& data) {
        forward(caf::make_message(output_atom_v, id, fd, time, std::move(data)));
      },
      [forward](end_atom, const std::string& id) { forward(caf::make_message(end_atom_v, id)); },
      [forward](end_atom, const std::string& id, int32_t code) {
        forward(caf::make_message(end_atom_v, id, code));
      },
      [st, forward](go_atom) {
        st->paused = false;
        auto held = std::move(st->held);
        for (auto& m : held) forward(std::move(m));
      },
  };
}

}  // namespace

session_state::~session_state() {
  for (auto& [id, up] : uploads) caf::anon_send_exit(up.writer, caf::exit_reason::user_shutdown);
  for (auto& [id, s] : streams) caf::anon_send_exit(s.forwarder, caf::exit_reason::user_shutdown);
}

void send_bytes(caf::io::broker* self, session_state& st, const std::string& bytes) {
  if (st.closing) return;
  self->write(st.conn, bytes.size(), bytes.data());
  self->flush(st.conn);
}

void reply_error(caf::io::broker* self, session_state& st, uint32_t id, const caf::error& err) {
  send_bytes(self, st, rpc::encode_error(id, code_of(err), describe(err)));
}

caf::error unavailable(const char* what) {
  return make_error(errc::unavailable, std::string("the ") + what + " service is not running");
}

opened_stream add_stream(caf::io::broker* self, session_state& st, bool stdin) {
  auto stream = st.next_stream++;
  auto fwd = self->spawn(stream_forwarder, caf::actor_cast<caf::actor>(self), stream);
  st.streams.emplace(stream, stream_state{fwd, {}, {}, stdin});
  return {stream, fwd};
}

void stream_failed(caf::io::broker* self, session_state& st, uint32_t id, const opened_stream& s,
                   const caf::error& err) {
  st.streams.erase(s.id);
  caf::anon_send_exit(s.forwarder, caf::exit_reason::user_shutdown);
  reply_error(self, st, id, err);
}

void end_stream(caf::io::broker* self, session_state& st, uint32_t stream, const caf::error& err) {
  auto it = st.streams.find(stream);
  if (it == st.streams.end()) return;
  caf::anon_send_exit(it->second.forwarder, caf::exit_reason::user_shutdown);
  st.streams.erase(it);
  api::stream_end end;
  end.stream_id = stream;
  end.error = describe(err);
  send_bytes(self, st, rpc::encode_notification(api::notice::stream_end, end));
}

caf::expected<stream_state*> stream_of(session_state& st, uint32_t stream, bool need_stdin) {
  auto it = st.streams.find(stream);
  if (it == st.streams.end() || it->second.container.empty())
    return make_error(errc::not_found, "no such stream: " + std::to_string(stream));
  if (need_stdin && !it->second.stdin)
    return make_error(errc::conflict, "this stream was opened without stdin");
  return &it->second;
}

route_table make_routes(const options& opts) {
  route_table table;
  system_routes(table, opts);
  container_routes(table);
  stream_routes(table);
  file_routes(table);
  volume_routes(table);
  network_routes(table);
  image_routes(table);
  return table;
}

caf::behavior session(caf::io::broker* self, caf::io::connection_handle conn, options opts,
                      std::shared_ptr<const route_table> routes) {
  auto st = std::make_shared<session_state>();
  st->opts = std::move(opts);
  st->conn = conn;
  self->configure_read(conn, caf::io::receive_policy::at_most(64 * 1024));
  auto close = [self, st](const std::string& why) {
    if (st->closing) return;
    session_log.debug("session closed: {}", why);
    st->closing = true;
    self->close(st->conn);
    self->quit();
  };
  auto dispatch = [self, st, routes](rpc::message& m) {
    auto route = routes->find(m.method);
    if (route == routes->end())
      return reply_error(self, *st, m.id,
                         make_error(errc::no_such_method, "unknown method " + m.method));
    route->second(self, st, m);
  };
  return {
      [self, st, close, dispatch](const caf::io::new_data_msg& msg) {
        try {
          st->dec.feed(reinterpret_cast<const char*>(msg.buf.data()), msg.buf.size());
          rpc::message m;
          while (!st->closing && st->dec.next(m)) {
            if (m.type != rpc::kind::request) continue;  // clients send no notifications we serve
            try {
              dispatch(m);
            } catch (const rpc::call_error& e) {
              send_bytes(self, *st, rpc::encode_error(m.id, e.code(), e.what()));
            }
          }
        } catch (const rpc::protocol_error& e) {
          session_log.warn("client broke the protocol: {}", e.what());
          send_bytes(self, *st, rpc::encode_error(0, errc::protocol, e.what()));
          close(e.what());
        }
      },
      [close](const caf::io::connection_closed_msg&) { close("client went away"); },
      [self, st](output_atom, uint32_t stream, uint8_t fd, int64_t time, std::vector<char>& data) {
        api::stream_data note;
        note.stream_id = stream;
        note.fd = fd;
        note.time = time;
        note.data = std::move(data);
        send_bytes(self, *st, rpc::encode_notification(api::notice::stream_data, note));
      },
      [self, st](end_atom, uint32_t stream, int32_t code) {
        st->streams.erase(stream);
        api::stream_end end;
        end.stream_id = stream;
        end.has_exit_code = code >= 0;
        end.exit_code = code;
        send_bytes(self, *st, rpc::encode_notification(api::notice::stream_end, end));
      },
      [self, st](progress_atom, const api::progress& p) {
        send_bytes(self, *st, rpc::encode_notification(api::notice::progress, p));
      },
  };
}

}  // namespace berth::api_server
