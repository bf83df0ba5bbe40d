// Tests of the agent's handshake (src/auth.cpp, berth/agent/handshake.hpp): a host serves nothing
// before it proves the VM's key, over a port (a socketpair, as virtio-serial) and over a listener
// (a Unix socket, as vsock). Each attack checks that the agent refuses it and that nothing it
// asked for happened, and that the session of the host that did prove the key goes on.
#include "agent_client.hpp"
#include "agent_fixture.hpp"

#include "berth/agent/handshake.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string the_key = [] {
  std::string k;
  for (std::size_t i = 0; i < agent_key_size; ++i) k.push_back(static_cast<char>(i * 7 + 1));
  return k;
}();

// The key with its last byte changed: a near miss.
std::string wrong_key() {
  auto k = the_key;
  k.back() = static_cast<char>(k.back() ^ 1);
  return k;
}

// Reads up to `n` bytes from `fd`, stopping early at end of file or after `timeout`.
std::string read_up_to(int fd, std::size_t n, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    auto got = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

// Whether the peer of `fd` closed it within `timeout` (what was sent before is skipped).
bool closed_by_peer(int fd, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    auto got = ::read(fd, buf, sizeof buf);
    if (got == 0 || (got < 0 && errno == ECONNRESET)) return true;
  }
}

// Sends the auth request with `key` and returns the first bytes of the answer (5 of them: as
// many as auth_accepted has, so nothing after it is taken from the client's decoder).
std::string handshake(agent_client& c, std::string_view key) {
  c.send_raw(auth_request(key));
  return read_up_to(c.fd(), auth_accepted.size());
}

// Whether the agent answers a ping on `c` within `timeout`.
bool answers_ping(agent_client& c, std::chrono::milliseconds timeout = 10s) {
  try {
    auto msg = c.response(c.send(method::ping), timeout);
    return rpc::error_of(msg).code == errc::none;
  } catch (const std::exception&) {
    return false;
  }
}

// The argument of `auth`, to decode the request and to send it inside a session.
struct key_arg {
  std::vector<char> key;
  MSGPACK_DEFINE_MAP(key);
};

// An exec-like call an attacker would make: a process that leaves a mark in the root.
process_spec mark(const std::string& id) {
  return command(id, {"sh", "-c", "echo pwned > /tmp/" + id});
}

}  // namespace

TEST_CASE("the handshake bytes are the msgpack-RPC messages the protocol documents") {
  rpc::decoder dec;
  auto request = auth_request(the_key);
  REQUIRE(request.size() == auth_request_size);
  dec.feed(request.data(), request.size());
  rpc::message msg;
  REQUIRE(dec.next(msg));
  CHECK(msg.type == rpc::kind::request);
  CHECK(msg.id == 0);
  CHECK(msg.method == method::auth);
  auto arg = rpc::arg<key_arg>(msg);
  CHECK(std::string(arg.key.begin(), arg.key.end()) == the_key);

  dec.feed(auth_accepted.data(), auth_accepted.size());
  REQUIRE(dec.next(msg));
  CHECK(msg.type == rpc::kind::response);
  CHECK(msg.id == 0);
  CHECK(rpc::error_of(msg).code == errc::none);

  dec.feed(auth_refused.data(), auth_refused.size());
  REQUIRE(dec.next(msg));
  CHECK(msg.type == rpc::kind::response);
  CHECK(msg.id == 0);
  CHECK(rpc::error_of(msg).code == errc::unauthorized);
  CHECK(rpc::error_of(msg).message == "agent key refused");
  CHECK_FALSE(dec.next(msg));
  CHECK(auth_refused.substr(0, 5) != auth_accepted);
}

TEST_CASE("keys are compared whole, in constant time, and only at their full size") {
  CHECK(equal_constant_time(the_key, the_key));
  CHECK_FALSE(equal_constant_time(the_key, wrong_key()));
  CHECK_FALSE(equal_constant_time(the_key, the_key.substr(0, 31)));
  CHECK_FALSE(equal_constant_time(the_key, ""));
  CHECK(equal_constant_time("", ""));
}

TEST_CASE("a host that sends the right key is accepted and then served") {
  auto how = GENERATE(via::port, via::listener);
  agent_fixture f(how, true, the_key);
  CHECK(handshake(f.client, the_key) == auth_accepted);
  CHECK(answers_ping(f.client));
  f.start(command("main", {"echo", "hello"}));
  f.client.until_exit("main");
  CHECK(f.client.output("main") == "hello\n");
}

TEST_CASE("a wrong key is refused and what follows it is never served") {
  auto how = GENERATE(via::port, via::listener);
  agent_fixture f(how, true, the_key);
  // The key and an exec-like call in one write, as an attacker would pipeline them.
  f.client.send_raw(auth_request(wrong_key()) + rpc::encode_request(1, method::start, mark("wk")));
  CHECK(read_up_to(f.client.fd(), auth_refused.size()) == auth_refused);
  if (how == via::listener) {
    CHECK(closed_by_peer(f.client.fd()));
  } else {
    // A port cannot be closed: the agent ignores it until its host hangs up.
    CHECK(read_up_to(f.client.fd(), 1, 500ms).empty());
    CHECK_FALSE(answers_ping(f.client, 500ms));
  }
  CHECK_FALSE(fs::exists(f.root.path / "tmp/wk"));
}

TEST_CASE("a host whose first message is not the auth request is refused at once") {
  auto how = GENERATE(via::port, via::listener);
  agent_fixture f(how, true, the_key);
  f.client.send_raw(rpc::encode_request(1, method::start, mark("noauth")));
  CHECK(read_up_to(f.client.fd(), auth_refused.size(), 2s) == auth_refused);
  if (how == via::listener) CHECK(closed_by_peer(f.client.fd()));
  CHECK_FALSE(answers_ping(f.client, 300ms));
  CHECK_FALSE(fs::exists(f.root.path / "tmp/noauth"));
}

TEST_CASE("garbage, a truncated request or the right key at the wrong offset are refused") {
  agent_fixture f(via::listener, true, the_key, 500ms);
  SECTION("garbage") {
    f.client.send_raw(std::string(4096, '\xc1'));
    CHECK(read_up_to(f.client.fd(), auth_refused.size(), 2s) == auth_refused);
    CHECK(closed_by_peer(f.client.fd()));
  }
  SECTION("the prefix and half a key, then silence: refused after the handshake timeout") {
    f.client.send_raw(auth_request(the_key).substr(0, 32));
    CHECK(read_up_to(f.client.fd(), auth_refused.size(), 5s) == auth_refused);
    CHECK(closed_by_peer(f.client.fd()));
  }
  SECTION("silence") {
    CHECK(read_up_to(f.client.fd(), auth_refused.size(), 5s) == auth_refused);
    CHECK(closed_by_peer(f.client.fd()));
  }
  SECTION("a ping, then the right key") {
    f.client.send_raw(rpc::encode_request(1, method::ping) + auth_request(the_key));
    CHECK(read_up_to(f.client.fd(), auth_refused.size(), 2s) == auth_refused);
    CHECK(closed_by_peer(f.client.fd()));
  }
  // The agent still takes a host that proves the key.
  f.client.reconnect(f.connect_unix());
  CHECK(handshake(f.client, the_key) == auth_accepted);
  CHECK(answers_ping(f.client));
}

TEST_CASE("while a session is open, connections without the key are refused and it goes on") {
  agent_fixture f(via::listener, true, the_key);
  REQUIRE(handshake(f.client, the_key) == auth_accepted);
  f.start(command("main", {"sh", "-c", "sleep 1; echo still here"}));

  agent_client absent(f.connect_unix());
  absent.send_raw(rpc::encode_request(1, method::start, mark("absent")));
  agent_client wrong(f.connect_unix());
  wrong.send_raw(auth_request(wrong_key()) + rpc::encode_request(1, method::start, mark("wrong")));
  agent_client silent(f.connect_unix());

  CHECK(read_up_to(absent.fd(), auth_refused.size()) == auth_refused);
  CHECK(closed_by_peer(absent.fd()));
  CHECK(read_up_to(wrong.fd(), auth_refused.size()) == auth_refused);
  CHECK(closed_by_peer(wrong.fd()));
  // The session that proved the key is untouched: answers, output and the exit all arrive.
  CHECK(answers_ping(f.client));
  CHECK(f.client.until_exit("main").exit_code == 0);
  CHECK(f.client.output("main") == "still here\n");
  CHECK_FALSE(fs::exists(f.root.path / "tmp/absent"));
  CHECK_FALSE(fs::exists(f.root.path / "tmp/wrong"));
  // The silent one does not hold anything up either.
  CHECK(answers_ping(f.client));
}

TEST_CASE("a second host with the key replaces the first, and gets what was queued") {
  agent_fixture f(via::listener, true, the_key);
  REQUIRE(handshake(f.client, the_key) == auth_accepted);
  f.start(command("main", {"sh", "-c", "sleep 1; echo after"}));
  agent_client second(f.connect_unix());
  CHECK(handshake(second, the_key) == auth_accepted);
  CHECK(closed_by_peer(f.client.fd()));
  CHECK(answers_ping(second));
  CHECK(second.until_exit("main").exit_code == 0);
  CHECK(second.output("main") == "after\n");
}

TEST_CASE("a crowd of connections that never send a key cannot lock the host out") {
  agent_fixture f(via::listener, true, the_key);
  std::vector<std::unique_ptr<agent_client>> crowd;
  for (int i = 0; i < 3 * 8; ++i) crowd.push_back(std::make_unique<agent_client>(f.connect_unix()));
  f.client.reconnect(f.connect_unix());
  CHECK(handshake(f.client, the_key) == auth_accepted);
  CHECK(answers_ping(f.client));
}

TEST_CASE("on a port a new host whose handshake arrives inside the session takes it over") {
  // A virtio-serial host that hangs up and reconnects before the agent polls leaves no hangup to
  // see: the same descriptor stays open (here a dup of the host's end), and the new host's
  // handshake arrives in the old session's stream.
  agent_fixture f(via::port, true, the_key);
  REQUIRE(handshake(f.client, the_key) == auth_accepted);
  f.start(command("main", {"sh", "-c", "echo before; sleep 1; echo after"}));
  f.client.until([&](auto&) { return f.client.output("main") == "before\n"; });
  // An answer owed to the old host is not the new one's.
  f.client.send(method::wait, process_ref{"main"});
  int again = ::dup(f.client.fd());
  REQUIRE(again >= 0);
  agent_client next(again);
  next.send_raw(auth_request(the_key));
  // Whatever the agent was writing to the old host may come first; then the answer.
  std::string seen;
  while (seen.size() < (1u << 20) && (seen.size() < auth_accepted.size() ||
                                      seen.compare(seen.size() - auth_accepted.size(),
                                                   auth_accepted.size(), auth_accepted) != 0)) {
    auto more = read_up_to(next.fd(), 1);
    if (more.empty()) break;
    seen += more;
  }
  REQUIRE(seen.size() >= auth_accepted.size());
  CHECK(seen.substr(seen.size() - auth_accepted.size()) == auth_accepted);
  f.client.close();  // the old host's end, which the agent never saw go
  CHECK(answers_ping(next));
  CHECK(next.until_exit("main").exit_code == 0);
  // The output the old host was sent comes again (it may not have kept it), then the rest.
  CHECK(next.output("main") == "before\nafter\n");
}

TEST_CASE("on a port a wrong key inside the session is refused and the session goes on") {
  agent_fixture f(via::port, true, the_key);
  REQUIRE(handshake(f.client, the_key) == auth_accepted);
  f.client.send_raw(auth_request(wrong_key()) + rpc::encode_request(7, method::ping));
  CHECK(read_up_to(f.client.fd(), auth_refused.size()) == auth_refused);
  // What followed is served: the session is the one that proved the key.
  CHECK(rpc::error_of(f.client.response(7)).code == errc::none);
  CHECK(answers_ping(f.client));
}

TEST_CASE("auth inside a session is a conflict and the session goes on") {
  agent_fixture f(via::port, true, the_key);
  REQUIRE(handshake(f.client, the_key) == auth_accepted);
  auto msg = f.client.call(method::auth, key_arg{{the_key.begin(), the_key.end()}});
  CHECK(rpc::error_of(msg).code == errc::conflict);
  CHECK(answers_ping(f.client));
}
