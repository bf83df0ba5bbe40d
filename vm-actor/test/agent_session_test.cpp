// Tests of the agent session's bounds with a real broker on a real socket pair: the test holds
// the guest's end and attacks from it (a guest that never reads, never answers, floods
// notifications faster than the vm actor takes them, floods requests, or sends a message of
// millions of objects), and checks that what berthd queues for that guest stays within
// guest_limits and that the session ends with a reason where it must.
#include "agent_session.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/guest_wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/make_message.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace berth;
using namespace berth::vm;
using namespace std::chrono_literals;

namespace {

class session_config : public caf::actor_system_config {
 public:
  session_config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::berth>();
  }
};

/// What the session's owner (the vm actor's place) saw.
struct owner_log {
  std::mutex mu;
  std::size_t notices = 0;
  std::string closed;  ///< The reason, once closed.
  bool hold = false;   ///< Take no notification (a vm actor that lags behind).
  std::vector<caf::response_promise> held;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

struct session_fixture {
  session_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<owner_log> log = std::make_shared<owner_log>();
  caf::actor owner;
  caf::actor session;
  int guest = -1;                   ///< The guest's end of the connection.
  std::vector<caf::actor> callers;  ///< Actors waiting for calls (ended with the fixture).
  std::size_t flood_at = 0;         ///< Where in its frame the last flood stopped.

  session_fixture() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest = sv[1];
    ::fcntl(guest, F_SETFL, ::fcntl(guest, F_GETFL) | O_NONBLOCK);
    auto l = log;
    owner = sys.spawn([l](caf::event_based_actor* self) -> caf::behavior {
      return {
          [self, l](notice_atom, const std::string&, const std::string&) {
            auto rp = self->make_response_promise();
            std::lock_guard<std::mutex> lock(l->mu);
            ++l->notices;
            if (l->hold)
              l->held.push_back(rp);
            else
              rp.deliver(caf::make_message());
            return rp;
          },
          [l](closed_atom, const std::string& why) {
            std::lock_guard<std::mutex> lock(l->mu);
            l->closed = why;
          },
          [l](go_atom) {
            std::lock_guard<std::mutex> lock(l->mu);
            l->hold = false;
            for (auto& rp : l->held) rp.deliver(caf::make_message());
            l->held.clear();
          },
      };
    });
    session = spawn_agent_session(sys, sv[0], owner);
  }

  ~session_fixture() {
    for (auto& c : callers) caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
    if (guest >= 0) ::close(guest);
  }

  std::string closed() {
    std::lock_guard<std::mutex> lock(log->mu);
    return log->closed;
  }

  // Writes as much of `bytes` as the socket takes now; how much it took (-1: closed).
  ssize_t offer(const std::string& bytes, std::size_t from = 0) {
    auto n = ::send(guest, bytes.data() + from, bytes.size() - from, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    return n;
  }

  // Writes frames of `frame` until the socket takes no more for `quiet`, at most for `limit`;
  // total bytes written.
  std::size_t flood(const std::string& frame, std::chrono::milliseconds quiet,
                    std::chrono::milliseconds limit = 20s) {
    std::size_t total = 0;
    auto& off = flood_at;  // a frame cut short by the last flood goes on where it stopped
    auto last = std::chrono::steady_clock::now();
    auto end = last + limit;
    while (std::chrono::steady_clock::now() - last < quiet &&
           std::chrono::steady_clock::now() < end) {
      auto n = offer(frame, off);
      if (n < 0) break;
      if (n == 0) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      last = std::chrono::steady_clock::now();
      total += static_cast<std::size_t>(n);
      off = (off + static_cast<std::size_t>(n)) % frame.size();
    }
    return total;
  }

  // Sends `calls` requests for `method` with `packed` from one actor; counts their outcomes.
  struct outcome {
    std::atomic<int> ok{0}, failed{0};
    std::mutex mu;
    std::vector<std::string> errors;
  };
  std::shared_ptr<outcome> call(int calls, std::string method, std::string packed) {
    auto out = std::make_shared<outcome>();
    auto s = session;
    callers.push_back(sys.spawn([=](caf::event_based_actor* self) {
      for (int i = 0; i < calls; ++i)
        self->request(s, caf::infinite, call_atom_v, method, packed)
            .then([out](const std::string&) { ++out->ok; },
                  [out](caf::error& err) {
                    std::lock_guard<std::mutex> lock(out->mu);
                    out->errors.push_back(describe(err));
                    ++out->failed;
                  });
    }));
    return out;
  }
};

std::string output_frame(std::size_t bytes) {
  return rpc::encode_notification(agent::notice::output,
                                  agent::output_chunk{"main", 1, std::vector<char>(bytes, 'x')});
}

}  // namespace

TEST_CASE_METHOD(session_fixture,
                 "a guest that never answers gets at most the bound of calls waiting for it") {
  int extra = 50;
  auto out = call(static_cast<int>(guest_limits::max_pending_calls) + extra, "ping", "\x80");
  REQUIRE(eventually([&] { return out->failed.load() == extra; }));
  std::this_thread::sleep_for(200ms);
  CHECK(out->failed.load() == extra);
  CHECK(out->ok.load() == 0);
  std::lock_guard<std::mutex> lock(out->mu);
  CHECK_THAT(out->errors.front(), Catch::Contains("calls unanswered"));
}

TEST_CASE_METHOD(session_fixture,
                 "a guest that never reads gets no more than the bound of bytes queued for it") {
  // 40 calls of 1 MiB each; the guest reads none of them.
  auto out = call(40, "write", rpc::pack(std::vector<char>(1u << 20, 'x')));
  REQUIRE(eventually([&] { return out->failed.load() > 0; }));
  std::this_thread::sleep_for(200ms);
  int accepted = 40 - out->failed.load();
  INFO("calls queued for the guest: " << accepted);
  CHECK(static_cast<std::size_t>(accepted) * (1u << 20) <= guest_limits::max_unsent + (2u << 20));
  std::lock_guard<std::mutex> lock(out->mu);
  CHECK_THAT(out->errors.front(), Catch::Contains("does not read"));
  CHECK(closed().empty());  // it may still read later: the session stays
}

TEST_CASE_METHOD(session_fixture,
                 "the session stops reading a guest whose notifications the vm actor has not "
                 "taken and reads again once it has") {
  {
    std::lock_guard<std::mutex> lock(log->mu);
    log->hold = true;
  }
  auto frame = output_frame(60 * 1024);
  auto written = flood(frame, 1500ms);
  INFO("bytes the guest got rid of while the vm actor took nothing: " << written);
  // Reading stopped past the bound: what the guest wrote sits in the vm actor's mailbox (up to
  // the bound and one read loop more), in the session's decoder and in the socket's buffers.
  CHECK(written >= guest_limits::max_unread);
  CHECK(written <= guest_limits::max_unread + (8u << 20));
  std::size_t taken;
  {
    std::lock_guard<std::mutex> lock(log->mu);
    taken = log->notices;
  }
  CHECK(taken * frame.size() <= guest_limits::max_unread + (4u << 20));
  // The vm actor catches up: reading goes on.
  caf::anon_send(owner, go_atom_v);
  auto more = flood(frame, 1500ms, 3s);
  CHECK(more >= guest_limits::max_unread);
  CHECK(closed().empty());
}

TEST_CASE_METHOD(session_fixture,
                 "a guest that sends requests and never reads the answers loses its session") {
  auto request = rpc::encode_request(1, "hello");
  auto start = std::chrono::steady_clock::now();
  while (closed().empty() && std::chrono::steady_clock::now() - start < 60s) {
    if (offer(request) < 0) break;
  }
  REQUIRE(eventually([&] { return !closed().empty(); }));
  CHECK_THAT(closed(), Catch::Contains("does not read the answers"));
}

TEST_CASE_METHOD(session_fixture,
                 "a guest message of 8 MiB of nils ends the session before it is built") {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(3);
  pk.pack_uint8(2);
  pk.pack(std::string_view("output"));
  pk.pack_array(127);
  for (int a = 0; a < 127; ++a) {
    pk.pack_array(1u << 16);
    for (int i = 0; i < (1 << 16); ++i) pk.pack_nil();
  }
  std::size_t off = 0;
  auto start = std::chrono::steady_clock::now();
  while (off < buf.data.size() && closed().empty() &&
         std::chrono::steady_clock::now() - start < 20s) {
    auto n = offer(buf.data, off);
    if (n < 0) break;
    off += static_cast<std::size_t>(n);
    if (n == 0) std::this_thread::sleep_for(1ms);
  }
  REQUIRE(eventually([&] { return !closed().empty(); }));
  CHECK_THAT(closed(), Catch::Contains("msgpack objects"));
  std::lock_guard<std::mutex> lock(log->mu);
  CHECK(log->notices == 0);
}

TEST_CASE_METHOD(session_fixture, "a guest that closes its end is told apart from one that broke") {
  ::close(guest);
  guest = -1;
  REQUIRE(eventually([&] { return !closed().empty(); }));
  CHECK(closed() == closed_by_peer);
}
