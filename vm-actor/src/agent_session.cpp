// agent_session.cpp: framing, request matching and the per-VM bounds of the agent connection.
#include "agent_session.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/guest_wire.hpp"

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/response_promise.hpp>

#include <chrono>
#include <map>
#include <memory>

namespace berth::vm {

namespace {

inline constexpr log::logger agent_log("agent");

// Bytes a notification in flight to the owner costs besides its own.
constexpr std::size_t notice_overhead = 256;

struct session_state {
  guest_reader reader;
  uint32_t next_id = 1;
  std::map<uint32_t, caf::response_promise> pending;
  caf::actor owner;
  caf::io::connection_handle conn;
  bool closed = false;
  uint64_t unsent = 0;     // bytes written to the guest and not taken by it yet
  std::size_t unread = 0;  // notification bytes at the owner, not taken by it yet
  bool paused = false;     // reading stopped until the owner catches up
  uint64_t resume_gen = 0;
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

// Queues `frame` for the guest, whose unread bytes are bounded by the caller.
void send_frame(caf::io::broker* self, session_state& st, const std::string& frame) {
  st.unsent += frame.size();
  self->write(st.conn, frame.size(), frame.data());
  self->flush(st.conn);
}

// Reading starts again. A halt takes effect at the end of the multiplexer's current loop and
// swallows a resume made before then, so the resume is made again a little later too.
void resume_reading(caf::io::broker* self, session_state& st) {
  st.paused = false;
  self->trigger(st.conn);
  self->delayed_send(self, std::chrono::milliseconds(20), tick_atom_v, ++st.resume_gen);
}

// The owner took a notification of `bytes`.
void taken(caf::io::broker* self, session_state& st, std::size_t bytes) {
  st.unread -= std::min(st.unread, bytes);
  if (st.paused && !st.closed && st.unread < guest_limits::resume_below) {
    agent_log.debug("the vm actor caught up; reading the agent again");
    resume_reading(self, st);
  }
}

// Handles one message from the guest; an error ends the session.
caf::error dispatch(caf::io::broker* self, const std::shared_ptr<session_state>& st,
                    rpc::message& m) {
  switch (m.type) {
    case rpc::kind::response: {
      auto it = st->pending.find(m.id);
      if (it == st->pending.end()) break;  // the caller gave up waiting
      auto rp = std::move(it->second);
      st->pending.erase(it);
      if (auto err = rpc::error_of(m); err.code != errc::none)
        rp.deliver(make_error(err.code, guest_text(err.message, 1024)));
      else
        rp.deliver(rpc::pack(m.result));
      break;
    }
    case rpc::kind::notification: {
      auto packed = rpc::packed_arg(m);
      // Counted with what a message in flight costs besides its bytes (mailbox element, response
      // handler), so that tiny notifications cannot pile up by the million either.
      auto bytes = packed.size() + m.method.size() + notice_overhead;
      st->unread += bytes;
      self->request(st->owner, caf::infinite, notice_atom_v, m.method, std::move(packed))
          .then([self, st, bytes] { taken(self, *st, bytes); },
                [self, st, bytes](caf::error&) { taken(self, *st, bytes); });
      break;
    }
    case rpc::kind::request: {
      auto reply = rpc::encode_error(m.id, errc::no_such_method, "berthd serves no calls here");
      if (st->unsent + reply.size() > guest_limits::max_unsent)
        return make_error(errc::protocol, "the guest sends requests and does not read the answers");
      send_frame(self, *st, reply);
      break;
    }
  }
  return {};
}

caf::behavior agent_session(caf::io::broker* self, int fd, caf::actor owner) {
  auto st = std::make_shared<session_state>();
  st->owner = std::move(owner);
  st->conn = self->add_scribe(fd);
  self->configure_read(st->conn, caf::io::receive_policy::at_most(64 * 1024));
  self->ack_writes(st->conn, true);
  // Nothing here should throw; if something does, the VM's owner still hears of it.
  self->set_exception_handler([self, st](caf::scheduled_actor*, std::exception_ptr& ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    close_session(self, *st, "internal error: " + what);
    return caf::error{make_error(errc::internal, what)};
  });
  return {
      [self, st](call_atom, const std::string& method, const std::string& packed) {
        auto rp = self->make_response_promise();
        if (st->closed) {
          rp.deliver(make_error(errc::unavailable, "guest agent connection closed"));
          return rp;
        }
        if (st->pending.size() >= guest_limits::max_pending_calls) {
          rp.deliver(make_error(
              errc::unavailable,
              "the guest agent has " + std::to_string(st->pending.size()) + " calls unanswered"));
          return rp;
        }
        auto id = st->next_id++;
        auto frame = rpc::encode_request(id, method, rpc::packed_view{packed});
        if (st->unsent + frame.size() > guest_limits::max_unsent) {
          rp.deliver(make_error(errc::unavailable,
                                "the guest agent does not read: " + std::to_string(st->unsent) +
                                    " bytes wait for it"));
          return rp;
        }
        st->pending.emplace(id, rp);
        send_frame(self, *st, frame);
        return rp;
      },
      [self, st](const caf::io::new_data_msg& msg) {
        if (st->closed) return;
        auto err = st->reader.feed(reinterpret_cast<const char*>(msg.buf.data()), msg.buf.size());
        rpc::message m;
        while (!err) {
          auto more = st->reader.next(m);
          if (!more)
            err = std::move(more.error());
          else if (!*more)
            break;
          else
            err = dispatch(self, st, m);
        }
        if (err) {
          agent_log.warn("the guest agent broke the protocol: {}", describe(err));
          return close_session(self, *st, "the guest agent broke the protocol: " + describe(err));
        }
        if (!st->paused && st->unread > guest_limits::max_unread) {
          // Back-pressure: the guest waits (its socket fills up) until the vm actor caught up.
          agent_log.debug("the vm actor has {} bytes of the agent to take; reading stops",
                          st->unread);
          st->paused = true;
          self->halt(st->conn);
        }
      },
      [self, st](const caf::io::data_transferred_msg& msg) { st->unsent = msg.remaining; },
      [self, st](tick_atom, uint64_t gen) {
        if (gen == st->resume_gen && !st->paused && !st->closed) self->trigger(st->conn);
      },
      [self, st](const caf::io::connection_closed_msg&) {
        close_session(self, *st, std::string(closed_by_peer));
      },
  };
}

}  // namespace

caf::actor spawn_agent_session(caf::actor_system& sys, int fd, caf::actor owner) {
  return sys.middleman().spawn_broker(agent_session, fd, std::move(owner));
}

}  // namespace berth::vm
