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

#include <deque>
#include <vector>

namespace berth::api_server {

namespace {

inline constexpr log::logger session_log("rpc");

// Forwards one stream's messages to its session, tagged with the stream id, one at a time: after
// each it waits for the session's go, which comes at once while the connection's send queue has
// room and otherwise once the client has read enough of it. Starts paused: messages wait until
// the session has sent the response that names the stream (the first go). What waits here is
// bounded: more than `max_backlog` bytes arriving after that first go end the stream with an
// error (the stored part of `logs`, held before it, is bounded by the log itself).
caf::behavior stream_forwarder(caf::event_based_actor* self, caf::actor session, uint32_t stream,
                               std::size_t max_backlog) {
  struct item {
    caf::message msg;
    std::size_t bytes = 0;
    bool live = false;  // arrived after the first go
  };
  struct state {
    bool released = false;
    bool credit = false;
    std::deque<item> pending;
    std::size_t live_bytes = 0;
  };
  auto st = std::make_shared<state>();
  auto pump = [self, session, stream, st] {
    while (st->released && st->credit && !st->pending.empty()) {
      auto it = std::move(st->pending.front());
      st->pending.pop_front();
      if (it.live) st->live_bytes -= it.bytes;
      auto& msg = it.msg;
      if (msg.match_element<end_atom>(0)) {
        int32_t code =
            msg.size() > 2 && msg.match_element<int32_t>(2) ? msg.get_as<int32_t>(2) : -1;
        self->send(session, end_atom_v, stream, code);
        self->quit();
        return;
      }
      st->credit = false;
      self->send(session, output_atom_v, stream, msg.get_as<uint8_t>(2), msg.get_as<int64_t>(3),
                 msg.get_as<std::vector<char>>(4));
    }
  };
  auto push = [self, session, stream, st, pump, max_backlog](caf::message msg, std::size_t bytes) {
    bool live = st->released;
    st->pending.push_back({std::move(msg), bytes, live});
    if (live) st->live_bytes += bytes;
    if (st->live_bytes > max_backlog) {
      session_log.warn("stream {} dropped: its client fell {} bytes behind", stream,
                       st->live_bytes);
      st->pending.clear();
      self->send(session, end_atom_v, stream,
                 "berthd ended this stream: the client fell more than " +
                     std::to_string(max_backlog >> 20) +
                     " MiB behind its output (it reads too slowly)");
      self->quit();
      return;
    }
    pump();
  };
  return {
      [push](output_atom, const std::string& id, uint8_t fd, int64_t time,
             std::vector<char>& data) {
        auto bytes = data.size() + 64;
        push(caf::make_message(output_atom_v, id, fd, time, std::move(data)), bytes);
      },
      [push](end_atom, const std::string& id) { push(caf::make_message(end_atom_v, id), 0); },
      [push](end_atom, const std::string& id, int32_t code) {
        push(caf::make_message(end_atom_v, id, code), 0);
      },
      [st, pump](go_atom) {
        st->released = true;
        st->credit = true;
        pump();
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
  st.queued += bytes.size();
  // A client that sends requests and does not read their answers: read no more requests until
  // it has read some (streams already wait at max_send_queue).
  if (!st.reads_halted && st.queued > 2 * st.opts.max_send_queue) {
    st.reads_halted = true;
    self->halt(st.conn);
  }
}

void reply_error(caf::io::broker* self, session_state& st, uint32_t id, const caf::error& err) {
  send_bytes(self, st, rpc::encode_error(id, code_of(err), describe(err)));
}

caf::error unavailable(const char* what) {
  return make_error(errc::unavailable, std::string("the ") + what + " service is not running");
}

opened_stream add_stream(caf::io::broker* self, session_state& st, bool stdin,
                         std::size_t max_backlog) {
  auto stream = st.next_stream++;
  auto fwd = self->spawn(stream_forwarder, caf::actor_cast<caf::actor>(self), stream,
                         max_backlog ? max_backlog : st.opts.max_stream_backlog);
  st.streams.emplace(stream, stream_state{fwd, {}, {}, stdin});
  return {stream, fwd};
}

void stream_failed(caf::io::broker* self, session_state& st, uint32_t id, const opened_stream& s,
                   const caf::error& err) {
  st.streams.erase(s.id);
  st.waiting.erase(s.id);
  caf::anon_send_exit(s.forwarder, caf::exit_reason::user_shutdown);
  reply_error(self, st, id, err);
}

void end_stream(caf::io::broker* self, session_state& st, uint32_t stream, const caf::error& err) {
  auto it = st.streams.find(stream);
  if (it == st.streams.end()) return;
  caf::anon_send_exit(it->second.forwarder, caf::exit_reason::user_shutdown);
  st.streams.erase(it);
  st.waiting.erase(stream);
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
  self->ack_writes(conn, true);
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
            // A client sends requests only; id 0 is berthd's, for the error that ends a
            // connection (docs/protocol.md), so no answer to a request can be mistaken for it.
            if (m.type == rpc::kind::response)
              throw rpc::protocol_error("a client sends no responses (berthd sent no request)");
            if (m.type == rpc::kind::notification)
              throw rpc::protocol_error("a client sends no notifications, only requests");
            if (m.id == 0)
              throw rpc::protocol_error("request id 0 is reserved for berthd's connection errors");
            try {
              rpc::check_params_shape(m);
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
      [self, st](const caf::io::data_transferred_msg& msg) {
        st->queued -= std::min<std::size_t>(st->queued, msg.written);
        if (st->queued > st->opts.max_send_queue / 2) return;
        // The client caught up: the waiting streams may send again, and requests are read.
        for (auto stream : st->waiting)
          if (auto it = st->streams.find(stream); it != st->streams.end())
            self->send(it->second.forwarder, go_atom_v);
        st->waiting.clear();
        if (st->reads_halted && !st->closing) {
          st->reads_halted = false;
          self->trigger(st->conn);
        }
      },
      [self, st](output_atom, uint32_t stream, uint8_t fd, int64_t time, std::vector<char>& data) {
        api::stream_data note;
        note.stream_id = stream;
        note.fd = fd;
        note.time = time;
        note.data = std::move(data);
        send_bytes(self, *st, rpc::encode_notification(api::notice::stream_data, note));
        auto it = st->streams.find(stream);
        if (it == st->streams.end()) return;
        if (st->queued <= st->opts.max_send_queue)
          self->send(it->second.forwarder, go_atom_v);
        else
          st->waiting.insert(stream);
      },
      [self, st](end_atom, uint32_t stream, std::string& why) {
        // The forwarder gave up on a client that does not read; it has quit.
        if (st->streams.erase(stream) == 0) return;
        st->waiting.erase(stream);
        api::stream_end end;
        end.stream_id = stream;
        end.error = std::move(why);
        send_bytes(self, *st, rpc::encode_notification(api::notice::stream_end, end));
      },
      [self, st](end_atom, uint32_t stream, int32_t code) {
        st->streams.erase(stream);
        st->waiting.erase(stream);
        api::stream_end end;
        end.stream_id = stream;
        end.has_exit_code = code >= 0;
        end.exit_code = code;
        send_bytes(self, *st, rpc::encode_notification(api::notice::stream_end, end));
      },
      [self, st](progress_atom, const api::progress& p) {
        // Progress is advice (the answer carries the outcome): skipped while the client lags.
        if (st->queued > st->opts.max_send_queue) return;
        send_bytes(self, *st, rpc::encode_notification(api::notice::progress, p));
      },
  };
}

}  // namespace berth::api_server
