// Tests for the outbox: order, the bound on output queued while no host is connected, and what a
// disconnect keeps and drops.
#include "outbox.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace berth;
using namespace berth::agent;

namespace {

// Everything readable from `fd` right now, decoded.
std::vector<rpc::message> drain(int fd, rpc::decoder& dec) {
  char buf[65536];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    dec.feed(buf, static_cast<std::size_t>(n));
  }
  std::vector<rpc::message> out;
  rpc::message m;
  while (dec.next(m)) out.push_back(std::move(m));
  return out;
}

struct socket_pair {
  int fds[2];
  socket_pair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  }
  ~socket_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

std::string exit_frame(const std::string& id, int code) {
  return rpc::encode_notification(notice::exit, exit_status{id, code, 0});
}

}  // namespace

TEST_CASE("frames are written in the order they were queued") {
  outbox box;
  box.output("p", 1, "one", false);
  box.notification(exit_frame("p", 0));
  box.response(rpc::encode_result(9, exit_status{"p", 0, 0}));
  CHECK(box.size() == 3);
  socket_pair sp;
  CHECK(box.flush(sp.fds[0], true) == outbox::flush_result::done);
  CHECK(box.empty());
  CHECK(box.bytes() == 0);
  rpc::decoder dec;
  auto msgs = drain(sp.fds[1], dec);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].method == "output");
  auto chunk = rpc::arg<output_chunk>(msgs[0]);
  CHECK(std::string(chunk.data.begin(), chunk.data.end()) == "one");
  CHECK(msgs[1].method == "exit");
  CHECK(msgs[2].type == rpc::kind::response);
  CHECK(msgs[2].id == 9);
}

TEST_CASE("output queued while bounded stops at the limit per process and counts the rest") {
  outbox box(100);
  CHECK(box.output("a", 1, std::string(60, 'a'), true) == 0);
  CHECK(box.output("a", 2, std::string(60, 'b'), true) == 20);
  CHECK(box.output("a", 1, std::string(10, 'c'), true) == 10);
  CHECK(box.queued_output("a") == 100);
  // Another process has its own bound.
  CHECK(box.output("b", 1, std::string(50, 'x'), true) == 0);
  // Exit notifications are never dropped.
  box.notification(exit_frame("a", 0));
  CHECK(box.size() == 4);
  // Unbounded output (a host is connected) is always queued.
  CHECK(box.output("a", 1, std::string(500, 'd'), false) == 0);
  CHECK(box.queued_output("a") == 600);
}

TEST_CASE("a disconnect drops responses but keeps notifications") {
  outbox box;
  box.response(rpc::encode_result(1, exit_status{}));
  box.output("p", 1, "data", false);
  box.response(rpc::encode_result(2, exit_status{}));
  box.notification(exit_frame("p", 3));
  box.disconnected();
  CHECK(box.size() == 2);
  socket_pair sp;
  CHECK(box.flush(sp.fds[0], true) == outbox::flush_result::done);
  rpc::decoder dec;
  auto msgs = drain(sp.fds[1], dec);
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].method == "output");
  CHECK(msgs[1].method == "exit");
}

TEST_CASE("a frame cut short by a disconnect is sent again whole on the next connection") {
  outbox box;
  socket_pair first;
  int size = 4096;
  ::setsockopt(first.fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  // One big notification cannot fit the small socket buffer: it is written only in part.
  box.output("p", 1, std::string(60000, 'z'), false);
  box.notification(exit_frame("p", 0));
  CHECK(box.flush(first.fds[0], true) == outbox::flush_result::blocked);
  box.disconnected();

  socket_pair second;
  rpc::decoder dec;
  std::vector<rpc::message> msgs;
  while (!box.empty()) {
    auto r = box.flush(second.fds[0], true);
    REQUIRE(r != outbox::flush_result::failed);
    for (auto& m : drain(second.fds[1], dec)) msgs.push_back(std::move(m));
  }
  for (auto& m : drain(second.fds[1], dec)) msgs.push_back(std::move(m));
  REQUIRE(msgs.size() == 2);
  CHECK(rpc::arg<output_chunk>(msgs[0]).data.size() == 60000);
  CHECK(msgs[1].method == "exit");
  CHECK(box.queued_output("p") == 0);
}

TEST_CASE("a write to a closed peer fails instead of raising SIGPIPE") {
  outbox box;
  box.notification(exit_frame("p", 0));
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  ::close(fds[1]);
  CHECK(box.flush(fds[0], true) == outbox::flush_result::failed);
  CHECK(errno == EPIPE);
  CHECK(box.size() == 1);
  ::close(fds[0]);
}

namespace {

// The output chunks among `msgs`, decoded.
std::vector<output_chunk> chunks(const std::vector<rpc::message>& msgs) {
  std::vector<output_chunk> out;
  for (const auto& m : msgs)
    if (m.type == rpc::kind::notification && m.method == notice::output)
      out.push_back(rpc::arg<output_chunk>(m));
  return out;
}

std::string text(const output_chunk& c) {
  return {c.data.begin(), c.data.end()};
}

}  // namespace

TEST_CASE("output bytes are numbered from the spec's seq and dropped bytes leave a gap") {
  outbox box(8);
  box.start_output("p", 100);
  box.output("p", 1, "abc", true);
  box.output("p", 2, "defghijk", true);  // 5 fit under the bound of 8, 3 are dropped
  box.output("q", 1, "x", true);         // never started: numbered from 0
  socket_pair sp;
  REQUIRE(box.flush(sp.fds[0], true) == outbox::flush_result::done);
  rpc::decoder dec;
  box.output("p", 1, "l", true);
  REQUIRE(box.flush(sp.fds[0], true) == outbox::flush_result::done);
  auto got = chunks(drain(sp.fds[1], dec));
  REQUIRE(got.size() == 4);
  CHECK((got[0].seq == 100 && text(got[0]) == "abc"));
  CHECK((got[1].seq == 103 && got[1].fd == 2 && text(got[1]) == "defgh"));
  CHECK((got[2].id == "q" && got[2].seq == 0));
  CHECK((got[3].seq == 111 && text(got[3]) == "l"));  // 108..110 were dropped
}

TEST_CASE("a new host gets the output the last one was sent again, first and in order") {
  outbox box;
  box.start_output("p", 0);
  box.output("p", 1, "one ", false);
  box.output("p", 2, "two ", false);
  socket_pair first;
  REQUIRE(box.flush(first.fds[0], true) == outbox::flush_result::done);
  // Queued while no host is there, after the host went away.
  box.disconnected();
  box.output("p", 1, "three", false);
  box.replay();
  socket_pair second;
  REQUIRE(box.flush(second.fds[0], true) == outbox::flush_result::done);
  rpc::decoder dec;
  auto got = chunks(drain(second.fds[1], dec));
  REQUIRE(got.size() == 3);
  CHECK((got[0].seq == 0 && text(got[0]) == "one " && got[0].fd == 1));
  CHECK((got[1].seq == 4 && text(got[1]) == "two " && got[1].fd == 2));
  CHECK((got[2].seq == 8 && text(got[2]) == "three"));
  // Sent again, they are kept again: a third host gets all of it.
  box.replay();
  socket_pair third;
  REQUIRE(box.flush(third.fds[0], true) == outbox::flush_result::done);
  rpc::decoder dec3;
  CHECK(chunks(drain(third.fds[1], dec3)).size() == 3);
}

TEST_CASE("what is kept for a new host is the last bytes of each process within its bound") {
  outbox box(1u << 20, 10);
  box.start_output("p", 0);
  box.output("p", 1, "0123456", false);
  box.output("p", 1, "789abcdef", false);  // 16 bytes sent: the last 10 are kept
  socket_pair sp;
  REQUIRE(box.flush(sp.fds[0], true) == outbox::flush_result::done);
  box.forget("gone");  // a process never seen: nothing happens
  box.replay();
  socket_pair again;
  REQUIRE(box.flush(again.fds[0], true) == outbox::flush_result::done);
  rpc::decoder dec;
  auto got = chunks(drain(again.fds[1], dec));
  REQUIRE(got.size() == 2);
  CHECK((got[0].seq == 6 && text(got[0]) == "6"));
  CHECK((got[1].seq == 7 && text(got[1]) == "789abcdef"));
  // A forgotten process has nothing to send again.
  box.forget("p");
  box.replay();
  CHECK(box.empty());
}
