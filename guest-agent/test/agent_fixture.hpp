// agent_fixture: the host-mode server the agent_server_test files drive, and its busybox root.
//
// A real server on a thread of the test, talking over a socketpair (the port transport) or a Unix
// listening socket (the listener transport), running real processes from Debian's static busybox
// chrooted in a root the fixture builds. The tests need root (chroot, setuid, namespaces) and
// /bin/busybox (package busybox-static).
#pragma once

#include "agent_client.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace berth::agent::testing {

namespace fs = std::filesystem;

inline void write_text(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A container root made of busybox, with the passwd and group files the user tests rely on.
struct busybox_root {
  fs::path path;

  busybox_root() {
    char tmpl[] = "/tmp/berth-agent-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
    fs::permissions(path, fs::perms(0755));
    fs::create_directories(path / "bin");
    fs::create_directories(path / "etc");
    fs::create_directories(path / "tmp");
    fs::permissions(path / "tmp", fs::perms(01777));
    fs::copy_file("/bin/busybox", path / "bin/busybox");
    for (const char* applet : {"sh",   "echo",  "cat",    "id",  "pwd",  "env",      "sleep",
                               "true", "false", "printf", "ls",  "kill", "hostname", "head",
                               "wc",   "mkdir", "ps",     "tty", "stty", "seq",      "readlink"})
      fs::create_symlink("busybox", path / "bin" / applet);
    write_text(path / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
               "app:x:1000:1000::/home/app:/bin/sh\n");
    write_text(path / "etc/group",
               "root:x:0:\n"
               "staff:x:50:app\n"
               "app:x:1000:\n"
               "nogroup:x:65534:\n");
  }

  ~busybox_root() {
    if (devpts) ::umount2((path / "dev/pts").c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(path, ec);
  }

  // A devpts instance of the root's own on /dev/pts, as mount_root makes in the VM, so that a
  // terminal's slave has its /dev/pts/N name inside the root. Unmounted by the destructor.
  void mount_devpts() {
    fs::create_directories(path / "dev/pts");
    REQUIRE(::mount("devpts", (path / "dev/pts").c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                    "newinstance,ptmxmode=0666,mode=0620") == 0);
    devpts = true;
  }

  bool devpts = false;
};

// Blocks SIGCHLD in the calling (main) thread before the server thread starts, as server.hpp
// asks: the server reads SIGCHLD from a signalfd.
inline void block_sigchld() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

enum class via { port, listener };

// A process_ref whose id has the wrong type.
struct wrong_ref {
  int id = 5;
  MSGPACK_DEFINE_MAP(id);
};

// A server on its own thread (in its own UTS namespace, so `hostname` cannot touch the test
// machine's) and a client connected to it.
struct agent_fixture {
  busybox_root root;
  fs::path socket_path;
  agent_client client;
  std::unique_ptr<server> srv;
  std::thread thread;
  run_result result = run_result::stopped;
  bool own_uts = false;

  // With a `key`, every connection must prove it first (auth_test.cpp does the handshakes).
  explicit agent_fixture(via how = via::port, bool with_root = true, std::string key = {},
                         std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10)) {
    REQUIRE(::geteuid() == 0);
    block_sigchld();
    std::unique_ptr<transport> t;
    if (how == via::port) {
      int sv[2];
      REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
      t = make_port_transport(sv[0]);
      client.reconnect(sv[1]);
    } else {
      socket_path = root.path.string() + ".sock";
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      REQUIRE(fd >= 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
      REQUIRE(::listen(fd, 4) == 0);
      t = make_listener_transport(fd);
      client.reconnect(connect_unix());
    }
    server_options opts;
    if (with_root) opts.root = root.path.string();
    opts.key = std::move(key);
    opts.handshake_timeout = handshake_timeout;
    srv = std::make_unique<server>(std::move(t), opts);
    std::promise<bool> uts;
    auto uts_done = uts.get_future();
    thread = std::thread([this, &uts] {
      uts.set_value(::unshare(CLONE_NEWUTS) == 0);
      result = srv->run();
    });
    own_uts = uts_done.get();
  }

  ~agent_fixture() {
    srv->stop();
    thread.join();
    srv.reset();
    if (!socket_path.empty()) ::unlink(socket_path.c_str());
  }

  int connect_unix() const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
  }

  // Starts a process and returns its pid; fails the test if start fails.
  int64_t start(const process_spec& spec) {
    auto msg = client.call(method::start, spec);
    auto err = rpc::error_of(msg);
    INFO(err.message);
    REQUIRE(err.code == errc::none);
    return rpc::result_as<process_started>(msg).pid;
  }

  // The error of a start that is expected to fail.
  rpc::error_info start_error(const process_spec& spec) {
    auto msg = client.call(method::start, spec);
    return rpc::error_of(msg);
  }
};

inline process_spec command(std::string id, std::vector<std::string> args) {
  process_spec spec;
  spec.id = std::move(id);
  spec.args = std::move(args);
  spec.env = {"PATH=/bin"};
  return spec;
}

// Index of the first event matching `pred`, or -1.
template <class Pred>
int index_of(const std::vector<event>& events, Pred pred) {
  for (std::size_t i = 0; i < events.size(); ++i)
    if (pred(events[i])) return static_cast<int>(i);
  return -1;
}

template <class Pred>
int last_index_of(const std::vector<event>& events, Pred pred) {
  int found = -1;
  for (std::size_t i = 0; i < events.size(); ++i)
    if (pred(events[i])) found = static_cast<int>(i);
  return found;
}

}  // namespace berth::agent::testing
