// agent_session.cpp: framing and request matching for the agent connection.
#include "agent_session.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/codec.hpp"

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/response_promise.hpp>

#include <map>
#include <memory>

namespace berth::vm {

namespace {

inline constexpr log::logger agent_log("agent");

struct session_state {
  rpc::decoder decoder;
  uint32_t next_id = 1;
  std::map<uint32_t, caf::response_promise> pending;
  caf::actor owner;
  caf::io::connection_handle conn;
  bool closed = false;
};

void close_session(caf::io::broker* self, session_state& st, const std::string& why) {
  if (st.closed) return;
  st.closed = true;
  for (auto& [id, rp] : st.pending)
    rp.deliver(make_error(errc::unavailable, "guest agent connection closed: " + why));
  st.pending.clear();
  self->send(st.owner, closed_atom_v, why);
  self->close(st.conn);
  self->quit();
}

caf::behavior agent_session(caf::io::broker* self, int fd, caf::actor owner) {
  auto st = std::make_shared<session_state>();
  st->owner = std::move(owner);
  st->conn = self->add_scribe(fd);
  self->configure_read(st->conn, caf::io::receive_policy::at_most(64 * 1024));
  return {
      [self, st](call_atom, const std::string& method, const std::string& packed) {
        auto rp = self->make_response_promise();
        if (st->closed) {
          rp.deliver(make_error(errc::unavailable, "guest agent connection closed"));
          return rp;
        }
        auto id = st->next_id++;
        auto frame = rpc::encode_request(id, method, rpc::packed_view{packed});
        st->pending.emplace(id, rp);
        self->write(st->conn, frame.size(), frame.data());
        self->flush(st->conn);
        return rp;
      },
      [self, st](const caf::io::new_data_msg& msg) {
        try {
          st->decoder.feed(reinterpret_cast<const char*>(msg.buf.data()), msg.buf.size());
          rpc::message m;
          while (st->decoder.next(m)) {
            switch (m.type) {
              case rpc::kind::response: {
                auto it = st->pending.find(m.id);
                if (it == st->pending.end()) break;  // the caller gave up waiting
                auto rp = std::move(it->second);
                st->pending.erase(it);
                if (auto err = rpc::error_of(m); err.code != errc::none)
                  rp.deliver(make_error(err.code, err.message));
                else
                  rp.deliver(rpc::pack(m.result));
                break;
              }
              case rpc::kind::notification:
                self->send(st->owner, notice_atom_v, m.method, rpc::packed_arg(m));
                break;
              case rpc::kind::request: {
                auto reply =
                    rpc::encode_error(m.id, errc::no_such_method, "berthd serves no calls here");
                self->write(st->conn, reply.size(), reply.data());
                self->flush(st->conn);
                break;
              }
            }
          }
        } catch (const rpc::protocol_error& e) {
          agent_log.warn("agent broke the protocol: {}", e.what());
          close_session(self, *st, std::string("protocol error: ") + e.what());
        }
      },
      [self, st](const caf::io::connection_closed_msg&) {
        close_session(self, *st, "closed by peer");
      },
  };
}

}  // namespace

caf::actor spawn_agent_session(caf::actor_system& sys, int fd, caf::actor owner) {
  return sys.middleman().spawn_broker(agent_session, fd, std::move(owner));
}

}  // namespace berth::vm
