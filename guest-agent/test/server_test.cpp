// Tests of the agent's RPC server in host mode (see agent_fixture.hpp): the calls of protocol 1,
// both transports, ordering, disconnects and hostile input.
#include "agent_client.hpp"
#include "agent_fixture.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;
namespace fs = std::filesystem;
using namespace std::string_literals;

TEST_CASE("the agent answers version and ping over either transport") {
  auto how = GENERATE(via::port, via::listener);
  agent_fixture f(how);
  auto info = rpc::result_as<version_info>(f.client.call(method::version, version_request{}));
  CHECK(info.agent == std::string(agent_version()));
  CHECK(info.agent.starts_with("berth-init "));
  CHECK(info.protocol == protocol_version);
  CHECK_FALSE(info.kernel.empty());
  CHECK(info.transport == (how == via::port ? "virtio-serial" : "vsock"));
  CHECK(info.uptime_ms > 0);
  auto pong = f.client.call(method::ping);
  CHECK(rpc::error_of(pong).code == errc::none);
}

TEST_CASE("echo hello gives hello on fd 1, then exit 0, and wait returns 0") {
  auto how = GENERATE(via::port, via::listener);
  agent_fixture f(how);
  auto pid = f.start(command("main", {"echo", "hello"}));
  CHECK(pid > 0);
  auto status = f.client.until_exit("main");
  CHECK(status.exit_code == 0);
  CHECK(status.signal == 0);
  CHECK(f.client.output("main", 1) == "hello\n");
  CHECK(f.client.output("main", 2).empty());
  auto& ev = f.client.events;
  int out = index_of(ev, [](auto& e) { return e.kind == event::output; });
  int exit = index_of(ev, [](auto& e) { return e.kind == event::exit; });
  CHECK(out >= 0);
  CHECK(out < exit);
  auto waited = rpc::result_as<exit_status>(f.client.call(method::wait, process_ref{"main"}));
  CHECK(waited.id == "main");
  CHECK(waited.exit_code == 0);
}

TEST_CASE("what a process writes to stderr arrives on fd 2") {
  agent_fixture f;
  f.start(command("err", {"sh", "-c", "echo oops >&2"}));
  f.client.until_exit("err");
  CHECK(f.client.output("err", 2) == "oops\n");
  CHECK(f.client.output("err", 1).empty());
}

TEST_CASE("the exit status of a process is reported") {
  agent_fixture f;
  f.start(command("three", {"sh", "-c", "exit 3"}));
  CHECK(f.client.until_exit("three").exit_code == 3);
  f.start(command("false", {"false"}));
  CHECK(f.client.until_exit("false").exit_code == 1);
}

TEST_CASE("stdin of a process is /dev/null") {
  agent_fixture f;
  f.start(command("cat", {"cat"}));
  CHECK(f.client.until_exit("cat").exit_code == 0);
  CHECK(f.client.output("cat").empty());
}

TEST_CASE("a process killed by SIGKILL through signal exits with 137 and signal 9") {
  agent_fixture f;
  f.start(command("sleeper", {"sleep", "1000"}));
  auto sent = f.client.call(method::signal, signal_request{"sleeper", SIGKILL});
  CHECK(rpc::error_of(sent).code == errc::none);
  auto status = f.client.until_exit("sleeper");
  CHECK(status.exit_code == 137);
  CHECK(status.signal == 9);
  auto waited = rpc::result_as<exit_status>(f.client.call(method::wait, process_ref{"sleeper"}));
  CHECK(waited.exit_code == 137);
  CHECK(waited.signal == 9);
}

TEST_CASE("signal checks the id and the signal number, and an exited process is left alone") {
  agent_fixture f;
  CHECK(rpc::error_of(f.client.call(method::signal, signal_request{"ghost", 15})).code ==
        errc::not_found);
  f.start(command("quick", {"true"}));
  f.client.until_exit("quick");
  CHECK(rpc::error_of(f.client.call(method::signal, signal_request{"quick", 0})).code ==
        errc::invalid_argument);
  CHECK(rpc::error_of(f.client.call(method::signal, signal_request{"quick", 1000})).code ==
        errc::invalid_argument);
  CHECK(rpc::error_of(f.client.call(method::signal, signal_request{"quick", 15})).code ==
        errc::none);
}

TEST_CASE("a command that does not exist fails to start with exec_not_found") {
  agent_fixture f;
  auto err = f.start_error(command("x", {"nosuch"}));
  CHECK(err.code == errc::exec_not_found);
  CHECK(err.message == "exec: \"nosuch\": executable file not found in $PATH");
  auto abs = f.start_error(command("y", {"/bin/nosuch"}));
  CHECK(abs.code == errc::exec_not_found);
  CHECK(abs.message == "exec: \"/bin/nosuch\": no such file or directory");
  // A failed start creates no process: the id is free and unknown.
  CHECK(rpc::error_of(f.client.call(method::wait, process_ref{"x"})).code == errc::not_found);
}

TEST_CASE("a directory as the command fails to start with exec_denied") {
  agent_fixture f;
  auto err = f.start_error(command("dir", {"/etc"}));
  CHECK(err.code == errc::exec_denied);
  CHECK(err.message == "exec: \"/etc\": permission denied");
}

TEST_CASE("a file without execute permission fails to start with exec_denied") {
  agent_fixture f;
  write_text(f.root.path / "bin/script", "#!/bin/sh\necho hi\n");
  fs::permissions(f.root.path / "bin/script", fs::perms(0644));
  auto err = f.start_error(command("s", {"script"}));
  CHECK(err.code == errc::exec_denied);
  CHECK(err.message == "exec: \"script\": permission denied");
}

TEST_CASE("the command is looked up in the PATH of the process environment") {
  agent_fixture f;
  auto spec = command("p", {"echo", "x"});
  spec.env = {"PATH=/nowhere:/also/not"};
  CHECK(f.start_error(spec).code == errc::exec_not_found);

  auto defaults = command("d", {"echo", "default"});
  defaults.env = {};  // no PATH: the default one, which has /bin
  f.start(defaults);
  f.client.until_exit("d");
  CHECK(f.client.output("d") == "default\n");
}

TEST_CASE("the environment is passed as given and HOME is added from passwd") {
  agent_fixture f;
  auto spec = command("env", {"env"});
  spec.env = {"PATH=/bin", "FOO=bar baz"};
  f.start(spec);
  f.client.until_exit("env");
  CHECK(f.client.output("env") == "PATH=/bin\nFOO=bar baz\nHOME=/root\n");

  auto as_app = command("env2", {"env"});
  as_app.user = "app";
  f.start(as_app);
  f.client.until_exit("env2");
  CHECK(f.client.output("env2") == "PATH=/bin\nHOME=/home/app\n");

  auto own_home = command("env3", {"env"});
  own_home.env = {"HOME=/mine", "PATH=/bin"};
  f.start(own_home);
  f.client.until_exit("env3");
  CHECK(f.client.output("env3") == "HOME=/mine\nPATH=/bin\n");

  auto unknown_uid = command("env4", {"env"});
  unknown_uid.user = "4321";
  f.start(unknown_uid);
  f.client.until_exit("env4");
  CHECK(f.client.output("env4") == "PATH=/bin\nHOME=/\n");
}

TEST_CASE("the working directory is honoured and created when missing") {
  agent_fixture f;
  auto spec = command("pwd", {"pwd"});
  spec.cwd = "/tmp";
  f.start(spec);
  f.client.until_exit("pwd");
  CHECK(f.client.output("pwd") == "/tmp\n");

  auto fresh = command("fresh", {"pwd"});
  fresh.cwd = "/srv/new/dir";
  f.start(fresh);
  f.client.until_exit("fresh");
  CHECK(f.client.output("fresh") == "/srv/new/dir\n");
  CHECK(fs::is_directory(f.root.path / "srv/new/dir"));

  auto file = command("file", {"pwd"});
  file.cwd = "/etc/passwd";
  CHECK(f.start_error(file).code == errc::invalid_argument);
  auto relative = command("rel", {"pwd"});
  relative.cwd = "tmp";
  CHECK(f.start_error(relative).code == errc::invalid_argument);
}

TEST_CASE("a user name runs the process with its uid, gid and member groups") {
  agent_fixture f;
  auto spec = command("id", {"sh", "-c", "id -u; id -g; id -G"});
  spec.user = "app";
  f.start(spec);
  CHECK(f.client.until_exit("id").exit_code == 0);
  CHECK(f.client.output("id") == "1000\n1000\n1000 50\n");
}

TEST_CASE("a numeric user without a passwd entry runs with gid 0") {
  agent_fixture f;
  auto spec = command("id", {"sh", "-c", "id -u; id -g; id -G"});
  spec.user = "1234";
  f.start(spec);
  f.client.until_exit("id");
  CHECK(f.client.output("id") == "1234\n0\n0\n");

  auto by_number = command("id2", {"sh", "-c", "id -u; id -g"});
  by_number.user = "1000";
  f.start(by_number);
  f.client.until_exit("id2");
  CHECK(f.client.output("id2") == "1000\n1000\n");

  auto root = command("id3", {"sh", "-c", "id -u; id -g"});
  f.start(root);
  f.client.until_exit("id3");
  CHECK(f.client.output("id3") == "0\n0\n");
}

TEST_CASE("user:group picks the group by name or by number") {
  agent_fixture f;
  auto named = command("g1", {"sh", "-c", "id -u; id -g"});
  named.user = "app:staff";
  f.start(named);
  f.client.until_exit("g1");
  CHECK(f.client.output("g1") == "1000\n50\n");

  auto numeric = command("g2", {"sh", "-c", "id -u; id -g"});
  numeric.user = "1234:999";
  f.start(numeric);
  f.client.until_exit("g2");
  CHECK(f.client.output("g2") == "1234\n999\n");
}

TEST_CASE("an unknown user or group name fails to start with invalid_argument") {
  agent_fixture f;
  auto spec = command("u", {"true"});
  spec.user = "nosuchuser";
  auto err = f.start_error(spec);
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.message == "unable to find user nosuchuser: no matching entries in passwd file");
  spec.user = "app:nosuchgroup";
  err = f.start_error(spec);
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.message == "unable to find group nosuchgroup: no matching entries in group file");
}

TEST_CASE("the hostname of the spec is set before the process starts") {
  agent_fixture f;
  if (!f.own_uts) {
    BERTH_SKIP("no UTS namespace for the server thread; not touching this machine's hostname");
  }
  auto spec = command("h", {"hostname"});
  spec.hostname = "box-one";
  f.start(spec);
  f.client.until_exit("h");
  CHECK(f.client.output("h") == "box-one\n");
}

TEST_CASE("5 MB of output arrive complete and in order") {
  agent_fixture f;
  constexpr std::size_t size = 5'000'000;
  std::string data(size + 1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  write_text(f.root.path / "data", data);
  f.start(command("big", {"head", "-c", std::to_string(size), "/data"}));
  CHECK(f.client.until_exit("big").exit_code == 0);
  auto out = f.client.output("big");
  REQUIRE(out.size() == size);
  CHECK(out == data.substr(0, size));
  for (const auto& e : f.client.events)
    if (e.kind == event::output) CHECK(e.data.size() <= 64 * 1024);
}

TEST_CASE("malformed bytes on the wire are logged and the agent keeps answering") {
  agent_fixture f;
  int log_pipe[2];
  REQUIRE(::pipe2(log_pipe, O_CLOEXEC) == 0);
  set_log_fd(log_pipe[1]);
  std::string logged;
  auto garbage = GENERATE(
      as<std::string>{}, "\xc1\xc1\xc1 not msgpack", rpc::pack(std::string("just a string")),
      rpc::pack(std::vector<int>{0, 1}), rpc::pack(std::vector<int>{7, 1, 2, 3}),
      "\x94\x00\xa1x\xa4ping\x90"s,  // the id is a string
      "\xdd\xff\xff\xff\xff"s);      // a 4-billion array
  INFO("garbage of " << garbage.size() << " bytes starting with " << int(uint8_t(garbage[0])));
  f.client.send_raw(garbage);
  // Wait until the agent says it saw the garbage, so the next request is not discarded with it.
  while (logged.find("protocol error") == std::string::npos) {
    pollfd p{log_pipe[0], POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    char buf[512];
    auto n = ::read(log_pipe[0], buf, sizeof buf);
    REQUIRE(n > 0);
    logged.append(buf, static_cast<std::size_t>(n));
  }
  set_log_fd(2);
  ::close(log_pipe[0]);
  ::close(log_pipe[1]);
  CHECK(rpc::error_of(f.client.call(method::ping)).code == errc::none);
  auto info = rpc::result_as<version_info>(f.client.call(method::version, version_request{}));
  CHECK(info.protocol == protocol_version);
  // The decoder that replaced the reset one also takes requests larger than its first buffer.
  auto big = command("big", {"sh", "-c", "echo $((${#B1} + ${#B2} + ${#B3}))"});
  for (const char* name : {"B1=", "B2=", "B3="}) big.env.push_back(name + std::string(100000, 'b'));
  f.start(big);
  f.client.until_exit("big");
  CHECK(f.client.output("big") == "300000\n");
}

TEST_CASE("an unknown method is no_such_method and bad arguments are invalid_argument") {
  agent_fixture f;
  CHECK(rpc::error_of(f.client.call("format_disk")).code == errc::no_such_method);
  CHECK(rpc::error_of(f.client.call(method::wait, wrong_ref{})).code == errc::invalid_argument);
}

TEST_CASE("configure_network is served and checks its argument before touching anything") {
  agent_fixture f;
  network_config config;
  interface_config bad;
  bad.mac = "02:42:0a:59:00";
  bad.address = "10.89.0.5";
  config.interfaces = {bad};
  auto err = rpc::error_of(f.client.call(method::configure_network, config));
  CHECK(err.code == errc::invalid_argument);
  CHECK_THAT(err.message, Catch::Contains("MAC"));
}

TEST_CASE("two processes run concurrently with their own streams") {
  agent_fixture f;
  REQUIRE(::mkfifo((f.root.path / "tmp/a").c_str(), 0666) == 0);
  REQUIRE(::mkfifo((f.root.path / "tmp/b").c_str(), 0666) == 0);
  f.start(command("a", {"cat", "/tmp/a"}));
  f.start(command("b", {"cat", "/tmp/b"}));
  // Opening a FIFO for writing waits for its reader: both cats run at the same time.
  int b = ::open((f.root.path / "tmp/b").c_str(), O_WRONLY | O_CLOEXEC);
  int a = ::open((f.root.path / "tmp/a").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  REQUIRE(::write(b, "from b\n", 7) == 7);
  ::close(b);
  CHECK(f.client.until_exit("b").exit_code == 0);
  CHECK(f.client.output("b") == "from b\n");
  CHECK_FALSE(f.client.exit_of("a"));
  REQUIRE(::write(a, "from a\n", 7) == 7);
  ::close(a);
  CHECK(f.client.until_exit("a").exit_code == 0);
  CHECK(f.client.output("a") == "from a\n");
}

TEST_CASE("several waits on one process are all answered after its last output") {
  agent_fixture f;
  REQUIRE(::mkfifo((f.root.path / "tmp/go").c_str(), 0666) == 0);
  f.start(command("w", {"sh", "-c", "read line < /tmp/go; echo out; echo err >&2; exit 4"}));
  auto w1 = f.client.send(method::wait, process_ref{"w"});
  auto w2 = f.client.send(method::wait, process_ref{"w"});
  // A ping answered after both waits were sent shows they are pending, not answered.
  f.client.call(method::ping);
  CHECK(index_of(f.client.events, [&](auto& e) {
          return e.kind == event::response && (e.msg_id == w1 || e.msg_id == w2);
        }) < 0);
  int go = ::open((f.root.path / "tmp/go").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(go >= 0);
  REQUIRE(::write(go, "x\n", 2) == 2);
  ::close(go);
  auto r1 = rpc::result_as<exit_status>(f.client.response(w1));
  auto r2 = rpc::result_as<exit_status>(f.client.response(w2));
  CHECK(r1.exit_code == 4);
  CHECK(r2.exit_code == 4);
  auto& ev = f.client.events;
  int last_output = last_index_of(ev, [](auto& e) { return e.kind == event::output; });
  int exit = index_of(ev, [](auto& e) { return e.kind == event::exit; });
  int first_answer = index_of(
      ev, [&](auto& e) { return e.kind == event::response && (e.msg_id == w1 || e.msg_id == w2); });
  CHECK(f.client.output("w", 1) == "out\n");
  CHECK(f.client.output("w", 2) == "err\n");
  CHECK(last_output < exit);
  CHECK(exit < first_answer);
}

TEST_CASE("wait and signal on an unknown process give not_found") {
  agent_fixture f;
  auto err = rpc::error_of(f.client.call(method::wait, process_ref{"nobody"}));
  CHECK(err.code == errc::not_found);
  CHECK(err.message.find("nobody") != std::string::npos);
}

TEST_CASE("start rejects an empty id, a duplicate id and empty args") {
  agent_fixture f;
  CHECK(f.start_error(command("", {"true"})).code == errc::invalid_argument);
  CHECK(f.start_error(command("e", {})).code == errc::invalid_argument);
  f.start(command("dup", {"sleep", "1000"}));
  CHECK(f.start_error(command("dup", {"true"})).code == errc::already_exists);
}

TEST_CASE("without a root start is a conflict, and host mode refuses mount_root") {
  SECTION("no root") {
    agent_fixture f(via::port, false);
    CHECK(f.start_error(command("x", {"true"})).code == errc::conflict);
  }
  SECTION("root given") {
    agent_fixture f;
    CHECK(rpc::error_of(f.client.call(method::mount_root, mount_spec{})).code == errc::conflict);
  }
}

TEST_CASE("shutdown is answered, ends every process and stops the server") {
  agent_fixture f;
  // PID 1 of its namespace, sleep ignores SIGTERM and gets SIGKILL after the grace second; the
  // init of the second one forwards SIGTERM, which ends its sleep.
  f.start(command("sleeper", {"sleep", "1000"}));
  auto with_init = command("init", {"sleep", "1000"});
  with_init.init = true;
  f.start(with_init);
  auto answer = f.client.call(method::shutdown);
  CHECK(rpc::error_of(answer).code == errc::none);
  auto status = f.client.until_exit("sleeper");
  CHECK(status.signal == SIGKILL);
  CHECK(status.exit_code == 128 + SIGKILL);
  auto init_status = f.client.until_exit("init");
  CHECK(init_status.signal == 0);
  CHECK(init_status.exit_code == 128 + SIGTERM);
  f.thread.join();
  f.thread = std::thread([] {});
  CHECK(f.result == run_result::shutdown);
}

TEST_CASE("a host that reconnects gets the notifications queued while it was away") {
  agent_fixture f(via::listener);
  REQUIRE(::mkfifo((f.root.path / "tmp/go").c_str(), 0666) == 0);
  f.start(command("bg", {"sh", "-c", "read line < /tmp/go; echo \"got $line\"; exit 7"}));
  auto pending = f.client.send(method::wait, process_ref{"bg"});
  f.client.call(method::ping);
  f.client.close();

  int go = ::open((f.root.path / "tmp/go").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(go >= 0);
  REQUIRE(::write(go, "it\n", 3) == 3);
  ::close(go);

  f.client.events.clear();
  f.client.reconnect(f.connect_unix());
  CHECK(f.client.until_exit("bg").exit_code == 7);
  CHECK(f.client.output("bg") == "got it\n");
  // The wait of the old connection is forgotten: the next answer is the new ping's.
  auto ping = f.client.send(method::ping);
  f.client.response(ping);
  CHECK(index_of(f.client.events,
                 [&](auto& e) { return e.kind == event::response && e.msg_id == pending; }) < 0);
  // The process keeps its status for a wait on the new connection.
  auto waited = rpc::result_as<exit_status>(f.client.call(method::wait, process_ref{"bg"}));
  CHECK(waited.exit_code == 7);
}

TEST_CASE("a partial frame from a dropped connection does not spoil the next one") {
  agent_fixture f(via::listener);
  auto frame = rpc::encode_request(1, method::start, command("half", {"true"}));
  f.client.send_raw(std::string_view(frame).substr(0, frame.size() / 2));
  f.client.close();
  f.client.reconnect(f.connect_unix());
  auto info = rpc::result_as<version_info>(f.client.call(method::version, version_request{}));
  CHECK(info.protocol == protocol_version);
  CHECK(rpc::error_of(f.client.call(method::wait, process_ref{"half"})).code == errc::not_found);
}

TEST_CASE("output produced while no host is connected is bounded, and the exit is kept") {
  agent_fixture f(via::listener);
  REQUIRE(::mkfifo((f.root.path / "tmp/go").c_str(), 0666) == 0);
  std::string data(3u << 20, 'x');
  write_text(f.root.path / "data", data);
  auto pid = f.start(command("flood", {"sh", "-c", "read line < /tmp/go; cat /data; exit 2"}));
  // A pidfd becomes readable when the process exits: the test learns that without reaping it.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  REQUIRE(pidfd >= 0);
  f.client.close();
  int go = ::open((f.root.path / "tmp/go").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(go >= 0);
  REQUIRE(::write(go, "x\n", 2) == 2);
  ::close(go);
  // cat can only finish if the agent keeps reading (and dropping) while no host is there.
  pollfd p{pidfd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 30000) == 1);
  ::close(pidfd);

  f.client.events.clear();
  f.client.reconnect(f.connect_unix());
  CHECK(f.client.until_exit("flood").exit_code == 2);
  auto out = f.client.output("flood");
  CHECK(out.size() >= (1u << 20));
  CHECK(out.size() <= (1u << 20) + 128 * 1024);
  CHECK(out == data.substr(0, out.size()));
}
