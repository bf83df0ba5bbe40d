// Attacks on berthd's API socket (supervisor/src/api/), each against a real listener on a unix
// socket in this process: a peer of another uid is refused by its credentials even when the
// socket file lets it connect, and a member of berthd's group is served; the socket file has its
// mode from bind() on; connections over the cap are refused while the earlier ones keep working;
// a complete 9 MiB message closes its connection with an error and the server stays up; a
// wrong-typed argument, or params of the wrong shape, are answered with invalid_argument; a
// request with id 0, or a response or notification from a client, ends its connection; and a
// client that opens a stream and never reads holds back its stream, not memory: the process's
// RSS stays bounded while a source floods it, other clients are served, and the stream ends with
// an error the client can read.
#include "api/handler.hpp"

#include "berth/actors/testing/temp_dir.hpp"
#include "berth/actors/vms.hpp"
#include "berth/rpc/client.hpp"
#include "berth/supervisor/api_server.hpp"
#include "berth/testing/skip.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

using namespace berth;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::berth>();
  }
};

// A uid and gid no test runs as, and a group that exists on every Debian host.
constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;
constexpr const char* member_group = "users";

// A berthd API server on a socket in a temporary directory others may traverse.
struct server_fixture {
  testing::temp_dir dir{"berth-apisec"};
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor parent{sys};
  api_server::options opts;
  caf::actor server;

  explicit server_fixture(std::function<void(api_server::options&)> tune = {}) {
    ::chmod(dir.path.c_str(), 0755);
    opts.host = "unix://" + path();
    opts.upload_dir = dir.path / "tmp";
    opts.version = "test";
    if (tune) tune(opts);
    auto h = api_server::spawn(caf::actor_cast<caf::local_actor*>(parent.ptr()), opts);
    REQUIRE(h);
    server = *h;
  }

  ~server_fixture() {
    parent->unlink_from(server);
    parent->send_exit(server, caf::exit_reason::user_shutdown);
  }

  std::string path() const { return (dir.path / "berthd.sock").string(); }
  rpc::client connect() { return rpc::client::connect(opts.host); }
};

template <class F>
bool eventually(F ready, std::chrono::milliseconds limit = 5s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (ready()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return ready();
}

int raw_connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what arrives on `fd` until it closes or `limit` passes.
std::string read_until_closed(int fd, std::chrono::milliseconds limit = 5s) {
  std::string out;
  auto until = std::chrono::steady_clock::now() + limit;
  char buf[65536];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// The first message of `bytes`, decoded.
rpc::message first_message(const std::string& bytes) {
  rpc::decoder dec;
  dec.feed(bytes.data(), bytes.size());
  rpc::message m;
  REQUIRE(dec.next(m));
  return m;
}

// What a child process running as `uid`:`gid` with `groups` gets when it sends `request` to
// the socket at `path`: the bytes it read until the server closed or answered, or "connect
// failed". The child uses only system calls between fork and _exit.
std::string as_other_user(const std::string& path, uid_t uid, gid_t gid, std::vector<gid_t> groups,
                          const std::string& request) {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
      ::_exit(2);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      static const char failed[] = "connect failed";
      [[maybe_unused]] auto w = ::write(pipefd[1], failed, sizeof failed - 1);
      ::_exit(0);
    }
    [[maybe_unused]] auto s = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      [[maybe_unused]] auto w = ::write(pipefd[1], buf, static_cast<std::size_t>(n));
      if (n >= 5) break;  // an answer: the smallest response is 5 bytes
    }
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// A vm supervisor stand-in: `attach` answers "c1" and starts a source that sends `total` bytes
// of output to the subscriber in 64 KiB chunks, `pace` apart per MiB, then ends the stream.
struct flood {
  std::size_t total = 256u << 20;
  std::chrono::microseconds pace{0};
  std::atomic<std::size_t> sent{0};
  std::vector<std::thread> sources;
  ~flood() {
    for (auto& t : sources) t.join();
  }
};

caf::behavior fake_vms(caf::event_based_actor*, flood* f) {
  return {
      [f](attach_atom, const std::string&, caf::actor sub) {
        f->sources.emplace_back([f, sub] {
          std::vector<char> chunk(64 * 1024, 'y');
          for (std::size_t n = 0; n < f->total; n += chunk.size()) {
            caf::anon_send(sub, output_atom_v, std::string("c1"), uint8_t{1}, int64_t{0}, chunk);
            f->sent += chunk.size();
            if ((n & ((1u << 20) - 1)) == 0) std::this_thread::sleep_for(f->pace);
          }
          caf::anon_send(sub, end_atom_v, std::string("c1"), int32_t{0});
        });
        return std::string("c1");
      },
  };
}

}  // namespace

TEST_CASE("a socket file has its final mode from the instant it is bound, whatever the umask") {
  // The kernel gives a socket file the mode of the socket's inode (less the umask) at bind():
  // narrowing the inode first leaves no instant where the file is wider. Stat it right after
  // bind, before any chmod, under umask 0.
  testing::temp_dir dir{"berth-apisec"};
  auto path = (dir.path / "s.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::fchmod(fd, 0660) == 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  auto old = ::umask(0);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  REQUIRE(rc == 0);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  ::close(fd);

  // berthd's own socket, watched by a thread from before it exists: never wider than 0660.
  std::atomic<bool> stop{false};
  std::atomic<int> widest{0};
  testing::temp_dir sdir{"berth-apisec"};
  auto spath = sdir.path / "berthd.sock";
  std::thread watcher([&] {
    while (!stop) {
      struct stat w {};
      if (::stat(spath.c_str(), &w) == 0) widest |= static_cast<int>(w.st_mode & 0777);
    }
  });
  old = ::umask(0);
  for (int i = 0; i < 20; ++i) {
    config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor parent{sys};
    api_server::options opts;
    opts.host = "unix://" + spath.string();
    opts.upload_dir = sdir.path / "tmp";
    opts.group = member_group;
    auto h = api_server::spawn(caf::actor_cast<caf::local_actor*>(parent.ptr()), opts);
    REQUIRE(h);
    parent->unlink_from(*h);
    parent->send_exit(*h, caf::exit_reason::user_shutdown);
  }
  ::umask(old);
  stop = true;
  watcher.join();
  CHECK((widest & ~0660) == 0);
  CHECK(widest != 0);
}

TEST_CASE("the socket is 0660 to berthd's group, and 0600 when berthd serves root only") {
  struct group* g = ::getgrnam(member_group);
  if (!g) BERTH_SKIP("no group named " << member_group);
  {
    server_fixture srv([](auto& o) { o.group = member_group; });
    struct stat st {};
    REQUIRE(::stat(srv.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == g->gr_gid);
  }
  {
    server_fixture srv([](auto& o) { o.group = "root"; });  // gid 0: nobody else in it here
    struct stat st {};
    REQUIRE(::stat(srv.path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
  }
  testing::temp_dir dir{"berth-apisec"};
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor parent{sys};
  api_server::options opts;
  opts.host = "unix://" + (dir.path / "x.sock").string();
  opts.group = "no-such-group-berth-test";
  auto h = api_server::spawn(caf::actor_cast<caf::local_actor*>(parent.ptr()), opts);
  REQUIRE_FALSE(h);
  CHECK(describe(h.error()).find("no group named") != std::string::npos);
}

TEST_CASE("a peer of another uid is refused by its credentials and a group member is served") {
  if (::geteuid() != 0) BERTH_SKIP("needs root to connect as another uid");
  struct group* g = ::getgrnam(member_group);
  if (!g) BERTH_SKIP("no group named " << member_group);
  gid_t member = g->gr_gid;
  server_fixture srv([](auto& o) { o.group = member_group; });
  auto ping = rpc::encode_request(7, "system.ping");

  // The file's mode keeps a stranger out already.
  CHECK(as_other_user(srv.path(), nobody, nogroup, {}, ping) == "connect failed");

  // With the file opened to everyone (an admin's chmod, or any race), the credentials still
  // refuse it: one clear error, then the connection closes.
  REQUIRE(::chmod(srv.path().c_str(), 0666) == 0);
  auto refused = as_other_user(srv.path(), nobody, nogroup, {}, ping);
  REQUIRE(refused != "connect failed");
  auto m = first_message(refused);
  CHECK(m.type == rpc::kind::response);
  CHECK(m.id == 0);
  auto err = rpc::error_of(m);
  CHECK(err.code == errc::unauthorized);
  CHECK(err.message.find("permission denied") != std::string::npos);
  CHECK(err.message.find("uid 65534") != std::string::npos);
  CHECK(err.message.find(member_group) != std::string::npos);

  // A member through a supplementary group, and one through its primary group: served.
  for (auto [gid, groups] :
       {std::pair{nogroup, std::vector<gid_t>{member}}, std::pair{member, std::vector<gid_t>{}}}) {
    auto answer = first_message(as_other_user(srv.path(), nobody, gid, groups, ping));
    CHECK(answer.id == 7);
    CHECK(rpc::error_of(answer).code == errc::none);
  }

  // Root is served.
  CHECK_NOTHROW(srv.connect().call<api::empty>(api::method::system_ping));
}

TEST_CASE("connections over the cap are refused while the earlier ones keep working") {
  server_fixture srv([](auto& o) { o.max_connections = 3; });
  std::vector<rpc::client> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(srv.connect());
    open.back().call<api::empty>(api::method::system_ping);
  }
  auto extra = srv.connect();
  try {
    extra.call<api::empty>(api::method::system_ping);
    FAIL("a fourth connection was served");
  } catch (const rpc::call_error& e) {
    CHECK(e.code() == errc::unavailable);
    CHECK(std::string(e.what()).find("at most 3 connections") != std::string::npos);
  }
  for (auto& c : open) CHECK_NOTHROW(c.call<api::empty>(api::method::system_ping));

  // One goes away: its place is free again.
  open.pop_back();
  CHECK(eventually([&] {
    try {
      srv.connect().call<api::empty>(api::method::system_ping);
      return true;
    } catch (const rpc::call_error&) {
      return false;
    }
  }));
}

TEST_CASE("a complete 9 MiB message closes its connection with an error and the server stays up") {
  server_fixture srv;
  std::vector<std::string> parts(9 * 16, std::string(64 * 1024 - 8, 'x'));
  auto big = rpc::encode_request(1, "system.ping", parts);
  int fd = raw_connect(srv.path());
  REQUIRE(fd >= 0);
  std::size_t sent = 0;
  while (sent < big.size()) {
    auto n = ::send(fd, big.data() + sent, big.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed it
    sent += static_cast<std::size_t>(n);
  }
  auto reply = read_until_closed(fd);
  ::close(fd);
  auto m = first_message(reply);
  CHECK(m.id == 0);
  auto err = rpc::error_of(m);
  CHECK(err.code == errc::protocol);
  CHECK(err.message.find("exceeds 8388608 bytes") != std::string::npos);
  CHECK_NOTHROW(srv.connect().call<api::empty>(api::method::system_ping));
}

TEST_CASE(
    "a wrong-typed argument is answered with the field it names, on a connection that stays") {
  server_fixture srv;
  auto c = srv.connect();
  std::map<std::string, int> wrong{{"name", 5}};
  try {
    c.call<api::created>(api::method::container_create, wrong);
    FAIL("a number for a name was accepted");
  } catch (const rpc::call_error& e) {
    CHECK(e.code() == errc::invalid_argument);
    CHECK(std::string(e.what()) ==
          "invalid argument to container.create: field 'name' must be a string");
  }
  std::map<std::string, std::string> rows{{"rows", "many"}};
  try {
    c.call<api::empty>(api::method::stream_resize, rows);
    FAIL("a string for rows was accepted");
  } catch (const rpc::call_error& e) {
    CHECK(std::string(e.what()).find("field 'rows' must be an integer from 0 to 65535") !=
          std::string::npos);
  }
  CHECK_NOTHROW(c.call<api::empty>(api::method::system_ping));
}

namespace {

// Sends `bytes` on `fd` and reads until one whole message arrived (or 5 s passed).
std::optional<rpc::message> send_and_read(int fd, const std::string& bytes) {
  if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size()))
    return std::nullopt;
  rpc::decoder dec;
  auto until = std::chrono::steady_clock::now() + 5s;
  char buf[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    dec.feed(buf, static_cast<std::size_t>(n));
    rpc::message m;
    if (dec.next(m)) return m;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE(
    "params of the wrong shape are refused with invalid_argument on a connection that stays") {
  server_fixture srv;
  int fd = raw_connect(srv.path());
  REQUIRE(fd >= 0);
  std::map<std::string, int> empty;
  auto refused = [&](const std::string& bytes, const std::string& text) {
    auto m = send_and_read(fd, bytes);
    REQUIRE(m);
    CHECK(m->id == 3);
    auto err = rpc::error_of(*m);
    CHECK(err.code == errc::invalid_argument);
    CHECK(err.message == text);
  };
  refused(rpc::pack(std::make_tuple(0, 3, "system.ping", std::vector<int>{5})),
          "invalid argument to system.ping: the argument must be a map");
  refused(rpc::pack(std::make_tuple(0, 3, "container.list", std::make_tuple(empty, empty))),
          "invalid argument to container.list: params must be [] or [{...}], one map of named "
          "arguments, not 2 elements");
  auto ok = send_and_read(fd, rpc::encode_request(4, "system.ping"));
  REQUIRE(ok);
  CHECK(ok->id == 4);
  CHECK(rpc::error_of(*ok).code == errc::none);
  ::close(fd);
}

TEST_CASE("a request with id 0 or a response or notification from a client closes its connection") {
  server_fixture srv;
  auto attack = GENERATE(as<std::string>{}, "id 0", "response", "notification");
  std::string bytes;
  std::string why;
  if (attack == "id 0") {
    bytes = rpc::encode_request(0, "system.ping");
    why = "request id 0 is reserved";
  } else if (attack == "response") {
    bytes = rpc::encode_result(9, api::empty{});
    why = "a client sends no responses";
  } else {
    bytes = rpc::encode_notification("stream.data", api::empty{});
    why = "a client sends no notifications";
  }
  INFO(attack);
  int fd = raw_connect(srv.path());
  REQUIRE(fd >= 0);
  // The attack and a ping after it: the ping is never answered, the connection ends first.
  bytes += rpc::encode_request(5, "system.ping");
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
  auto reply = read_until_closed(fd);
  ::close(fd);
  rpc::decoder dec;
  dec.feed(reply.data(), reply.size());
  rpc::message m;
  REQUIRE(dec.next(m));
  CHECK(m.id == 0);
  auto err = rpc::error_of(m);
  CHECK(err.code == errc::protocol);
  CHECK(err.message.find(why) != std::string::npos);
  CHECK_FALSE(dec.next(m));  // nothing after it: the ping was not served
  CHECK_NOTHROW(srv.connect().call<api::empty>(api::method::system_ping));
}

TEST_CASE("a client that opens a stream and never reads holds back its stream, not memory") {
  flood f;
  f.total = 384u << 20;
  f.pace = 200us;
  server_fixture srv([](auto& o) {
    o.max_send_queue = 4u << 20;
    o.max_stream_backlog = 16u << 20;
  });
  auto vms = srv.sys.spawn(fake_vms, &f);
  srv.sys.registry().put(registry_key(vm_supervisor_name), vms);

  // The slow client: attaches, then reads nothing while the source sends 384 MiB.
  int fd = raw_connect(srv.path());
  REQUIRE(fd >= 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  auto attach = rpc::encode_request(1, api::method::container_attach, api::attach_request{"c1"});
  REQUIRE(::send(fd, attach.data(), attach.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(attach.size()));
  auto before = rss_kib();
  long peak = before;
  auto other = srv.connect();
  int pings = 0;
  while (f.sent < f.total) {
    peak = std::max(peak, rss_kib());
    other.call<api::empty>(api::method::system_ping);  // another client is served meanwhile
    ++pings;
    std::this_thread::sleep_for(5ms);
  }
  for (int i = 0; i < 20; ++i) {
    peak = std::max(peak, rss_kib());
    std::this_thread::sleep_for(10ms);
  }
  std::cout << "slow client: RSS " << before / 1024 << " MiB before, peak " << peak / 1024
            << " MiB while 384 MiB of output went to a client that did not read (" << pings
            << " pings of another client answered)" << std::endl;
  CHECK(peak - before < 96 * 1024);
  CHECK(pings > 0);

  // When it reads at last: the answer, what was queued, then the end with the reason.
  rpc::decoder dec;
  std::string error;
  bool answered = false, ended = false;
  std::size_t data = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  char buf[65536];
  while (!ended && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    dec.feed(buf, static_cast<std::size_t>(n));
    rpc::message m;
    while (dec.next(m)) {
      if (m.type == rpc::kind::response) answered = m.id == 1;
      if (m.type == rpc::kind::notification && m.method == api::notice::stream_data)
        data += rpc::arg<api::stream_data>(m).data.size();
      if (m.type == rpc::kind::notification && m.method == api::notice::stream_end) {
        ended = true;
        error = rpc::arg<api::stream_end>(m).error;
      }
    }
  }
  ::close(fd);
  CHECK(answered);
  CHECK(ended);
  CHECK(error.find("fell more than 16 MiB behind") != std::string::npos);
  CHECK(data > 0);
  CHECK(data < f.total / 2);
  srv.sys.registry().erase(registry_key(vm_supervisor_name));
  caf::anon_send_exit(vms, caf::exit_reason::user_shutdown);
}

TEST_CASE("a client that reads gets every byte of a stream through a burst") {
  flood f;
  f.total = 96u << 20;
  // About 125 MiB/s: the most a guest's output reaches berthd over virtio-serial here (DESIGN.md).
  // The source is not paused by a lagging client (only the stream is), so a faster source on a
  // loaded 2-core host can put a reading client 16 MiB behind; that is a limit written in the
  // issue's note, not what this case is about.
  f.pace = 8000us;
  server_fixture srv;
  auto vms = srv.sys.spawn(fake_vms, &f);
  srv.sys.registry().put(registry_key(vm_supervisor_name), vms);
  auto c = srv.connect();
  std::size_t data = 0;
  bool ended = false;
  std::string error;
  c.on_notification = [&](const rpc::message& m) {
    if (m.method == api::notice::stream_data) data += rpc::arg<api::stream_data>(m).data.size();
    if (m.method == api::notice::stream_end) {
      ended = true;
      error = rpc::arg<api::stream_end>(m).error;
    }
  };
  c.call<api::stream>(api::method::container_attach, api::attach_request{"c1"});
  auto until = std::chrono::steady_clock::now() + 60s;
  while (!ended && std::chrono::steady_clock::now() < until) c.poll_once(100ms);
  CHECK(ended);
  CHECK(error.empty());
  CHECK(data == f.total);
  srv.sys.registry().erase(registry_key(vm_supervisor_name));
  caf::anon_send_exit(vms, caf::exit_reason::user_shutdown);
}
