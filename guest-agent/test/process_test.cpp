// Tests of protocol 2's process features in host mode (see agent_fixture.hpp): PID namespaces,
// the tiny init, exec into a running process's namespace, terminals, stdin, flow control both
// ways, and stats.
#include "agent_client.hpp"
#include "agent_fixture.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// Whether `text` holds `part`.
bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Reads until process `id` has written `part` on `fd`.
void until_output(agent_client& c, const std::string& id, std::string_view part, uint8_t fd = 1) {
  c.until([&](auto&) { return has(c.output(id, fd), part); });
}

errc code_of(const rpc::message& msg) {
  return rpc::error_of(msg).code;
}

// Reads for `d`, expecting nothing in particular (lets the agent act, and records what comes).
void read_for(agent_client& c, std::chrono::milliseconds d) {
  auto end = agent_client::clock::now() + d;
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - agent_client::clock::now());
    if (left.count() <= 0) return;
    try {
      c.read_once(left);
    } catch (const std::runtime_error&) {
      return;  // timed out: nothing more came
    }
  }
}

process_spec on_terminal(std::string id, std::vector<std::string> args, bool open_stdin = false) {
  auto spec = command(std::move(id), std::move(args));
  spec.terminal = true;
  spec.open_stdin = open_stdin;
  return spec;
}

rpc::message send_stdin(agent_client& c, const std::string& id, std::string_view data) {
  return c.call(method::stdin_data, stdin_chunk{id, std::vector<char>(data.begin(), data.end())});
}

}  // namespace

// --- PID namespaces and init ---------------------------------------------------------------------

TEST_CASE("a process is PID 1 of its own PID namespace") {
  agent_fixture f;
  // (The `true` at the end keeps sh from exec'ing cat in its place.)
  auto pid = f.start(command("main", {"sh", "-c", "echo $$; cat /proc/1/cmdline; true"}));
  CHECK(f.client.until_exit("main").exit_code == 0);
  // $$ is 1 inside; the agent reports the pid it sees, and /proc is the namespace's own.
  CHECK(pid > 1);
  CHECK(f.client.output("main") == "1\nsh\0-c\0echo $$; cat /proc/1/cmdline; true\0"s);
}

TEST_CASE("PID 1 without init ignores SIGTERM sent with signal but dies of SIGKILL") {
  agent_fixture f;
  f.start(command("main", {"sleep", "1000"}));
  CHECK(code_of(f.client.call(method::signal, signal_request{"main", SIGTERM})) == errc::none);
  read_for(f.client, 300ms);
  CHECK_FALSE(f.client.exit_of("main"));
  f.client.call(method::signal, signal_request{"main", SIGKILL});
  auto status = f.client.until_exit("main");
  CHECK(status.signal == SIGKILL);
  CHECK(status.exit_code == 137);
}

TEST_CASE("with init, SIGTERM stops sleep and the exit code is 143") {
  agent_fixture f;
  auto spec = command("main", {"sleep", "1000"});
  spec.init = true;
  f.start(spec);
  f.client.call(method::signal, signal_request{"main", SIGTERM});
  auto status = f.client.until_exit("main");
  CHECK(status.exit_code == 143);
  CHECK(status.signal == 0);  // the init exited with 143; no signal ended it
}

TEST_CASE("with init, the command is PID 2 and its exit status is the process's") {
  agent_fixture f;
  auto spec = command("main", {"sh", "-c", "echo $$; exit 7"});
  spec.init = true;
  f.start(spec);
  CHECK(f.client.until_exit("main").exit_code == 7);
  CHECK(f.client.output("main") == "2\n");

  // Every forwarded signal reaches the command: SIGHUP kills sleep, 128 + 1.
  auto hup = command("hup", {"sleep", "1000"});
  hup.init = true;
  f.start(hup);
  f.client.call(method::signal, signal_request{"hup", SIGHUP});
  CHECK(f.client.until_exit("hup").exit_code == 129);
}

TEST_CASE("the init reaps orphans of its namespace") {
  agent_fixture f;
  auto spec = command("main", {"sh", "-c", "(sleep 0.1 &); sleep 0.5; ps -o pid,stat,args"});
  spec.init = true;
  f.start(spec);
  CHECK(f.client.until_exit("main").exit_code == 0);
  auto out = f.client.output("main");
  // The orphaned sleep was reparented to the init, which reaped it: no zombie is left.
  CHECK_FALSE(has(out, " Z "));
  CHECK(has(out, "ps -o pid,stat,args"));
}

TEST_CASE("exec with join runs in the namespace of the running process") {
  agent_fixture f;
  auto main_pid = f.start(command("main", {"sleep", "1000"}));
  auto spec = command("exec1", {"sh", "-c", "echo $$; ps -o pid,args; cat /proc/1/cmdline"});
  spec.join = "main";
  auto exec_pid = f.start(spec);
  CHECK(exec_pid != main_pid);
  CHECK(f.client.until_exit("exec1").exit_code == 0);
  auto out = f.client.output("exec1");
  INFO(out);
  auto first_line = out.substr(0, out.find('\n'));
  CHECK(first_line != "1");
  CHECK(std::stoi(first_line) > 1);
  // ps sees the namespace: the main process as PID 1, and nothing of the host.
  CHECK(has(out, "    1 sleep 1000\n"));
  CHECK(has(out,
            "sleep\0"
            "1000\0"s));
  CHECK_FALSE(has(out, "agent_server_test"));
  CHECK(f.client.exit_of("main") == std::nullopt);
}

TEST_CASE("when the process joined exits, the kernel ends the processes that joined it") {
  agent_fixture f;
  f.start(command("main", {"sleep", "1000"}));
  auto spec = command("exec1", {"sleep", "1000"});
  spec.join = "main";
  f.start(spec);
  f.client.call(method::signal, signal_request{"main", SIGKILL});
  CHECK(f.client.until_exit("main").signal == SIGKILL);
  CHECK(f.client.until_exit("exec1").signal == SIGKILL);
}

TEST_CASE("the agent forgets the oldest exited execs, so frequent execs do not grow its table") {
  agent_fixture f;
  f.start(command("main", {"sleep", "1000"}));
  constexpr int execs = 40;  // more than the agent keeps (32)
  for (int i = 0; i < execs; ++i) {
    auto spec = command("exec" + std::to_string(i), {"true"});
    spec.join = "main";
    f.start(spec);
    REQUIRE(f.client.until_exit(spec.id).exit_code == 0);
  }
  // One more start after the last exit: the agent trims its table at the top of its loop.
  auto last = command("last", {"true"});
  last.join = "main";
  f.start(last);
  f.client.until_exit("last");
  auto oldest = f.client.call(method::wait, process_ref{"exec0"});
  CHECK(rpc::error_of(oldest).code == errc::not_found);
  auto recent = rpc::result_as<exit_status>(f.client.call(method::wait, process_ref{"exec39"}));
  CHECK(recent.exit_code == 0);
  // The container's main process is never forgotten.
  f.client.call(method::signal, signal_request{"main", SIGKILL});
  auto main_exit = rpc::result_as<exit_status>(f.client.call(method::wait, process_ref{"main"}));
  CHECK(main_exit.signal == SIGKILL);
}

TEST_CASE("join names an unknown or exited process: not_found") {
  agent_fixture f;
  auto spec = command("exec1", {"true"});
  spec.join = "nobody";
  CHECK(f.start_error(spec).code == errc::not_found);
  f.start(command("gone", {"true"}));
  f.client.until_exit("gone");
  spec.join = "gone";
  auto err = f.start_error(spec);
  CHECK(err.code == errc::not_found);
  CHECK(has(err.message, "gone"));
}

// --- terminals
// ------------------------------------------------------------------------------------

TEST_CASE("a terminal process runs on a /dev/pts pty with stdout and stderr merged on fd 1") {
  agent_fixture f;
  f.root.mount_devpts();
  f.start(on_terminal("t", {"sh", "-c", "tty; echo out; echo err >&2"}));
  CHECK(f.client.until_exit("t").exit_code == 0);
  auto out = f.client.output("t", 1);
  INFO(out);
  CHECK(out.starts_with("/dev/pts/"));
  // The pty's line discipline turns \n into \r\n (onlcr), as on any terminal.
  CHECK(has(out, "out\r\n"));
  CHECK(has(out, "err\r\n"));
  CHECK(f.client.output("t", 2).empty());
}

TEST_CASE("resize changes the size stty reports") {
  agent_fixture f;
  f.root.mount_devpts();
  auto spec = on_terminal("t", {"sh", "-c", "stty size; read line; stty size"}, true);
  spec.rows = 30;
  spec.cols = 100;
  f.start(spec);
  until_output(f.client, "t", "30 100");
  CHECK(code_of(f.client.call(method::resize, resize_request{"t", 50, 132})) == errc::none);
  CHECK(code_of(send_stdin(f.client, "t", "\n")) == errc::none);
  CHECK(f.client.until_exit("t").exit_code == 0);
  CHECK(has(f.client.output("t"), "50 132"));
}

TEST_CASE("a line typed into cat on a terminal is echoed, and close_stdin ends cat") {
  agent_fixture f;
  f.root.mount_devpts();
  f.start(on_terminal("cat", {"cat"}, true));
  CHECK(code_of(send_stdin(f.client, "cat", "hello\n")) == errc::none);
  // The terminal echoes the line, then cat writes it back.
  until_output(f.client, "cat", "hello\r\nhello\r\n");
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"cat"})) == errc::none);
  CHECK(f.client.until_exit("cat").exit_code == 0);
}

TEST_CASE("a terminal without open_stdin takes no stdin, and resize needs a terminal") {
  agent_fixture f;
  f.root.mount_devpts();
  f.start(on_terminal("t", {"sleep", "1000"}));
  CHECK(code_of(send_stdin(f.client, "t", "x")) == errc::conflict);
  CHECK(code_of(f.client.call(method::resize, resize_request{"t", 10, 10})) == errc::none);
  f.start(command("plain", {"sleep", "1000"}));
  CHECK(code_of(f.client.call(method::resize, resize_request{"plain", 10, 10})) == errc::conflict);
  CHECK(code_of(f.client.call(method::resize, resize_request{"nobody", 10, 10})) ==
        errc::not_found);
}

// --- stdin ---------------------------------------------------------------------------------------

TEST_CASE("cat echoes what is written to its stdin pipe and exits 0 after close_stdin") {
  agent_fixture f;
  auto spec = command("cat", {"cat"});
  spec.open_stdin = true;
  f.start(spec);
  CHECK(code_of(send_stdin(f.client, "cat", "abc\n")) == errc::none);
  until_output(f.client, "cat", "abc\n");
  CHECK(code_of(send_stdin(f.client, "cat", "def")) == errc::none);
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"cat"})) == errc::none);
  CHECK(f.client.until_exit("cat").exit_code == 0);
  CHECK(f.client.output("cat") == "abc\ndef");
  // After the end: a second close_stdin is fine (a caller cannot tell whether the exit came
  // first), stdin is a conflict.
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"cat"})) == errc::none);
  CHECK(code_of(send_stdin(f.client, "cat", "late")) == errc::conflict);
}

TEST_CASE("stdin calls name a process whose stdin is open") {
  agent_fixture f;
  CHECK(code_of(send_stdin(f.client, "nobody", "x")) == errc::not_found);
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"nobody"})) == errc::not_found);
  f.start(command("closed", {"sleep", "1000"}));
  CHECK(code_of(send_stdin(f.client, "closed", "x")) == errc::conflict);
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"closed"})) == errc::conflict);
  auto spec = command("open", {"cat"});
  spec.open_stdin = true;
  f.start(spec);
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"open"})) == errc::none);
  CHECK(code_of(f.client.call(method::close_stdin, process_ref{"open"})) == errc::none);
  CHECK(code_of(send_stdin(f.client, "open", "x")) == errc::conflict);
  f.client.until_exit("open");
  auto msg = send_stdin(f.client, "open", "x");
  CHECK(rpc::error_of(msg).code == errc::conflict);
  CHECK(has(rpc::error_of(msg).message, "exited"));
  // More than 1 MiB in one call is refused.
  auto big = command("big", {"cat"});
  big.open_stdin = true;
  f.start(big);
  CHECK(code_of(send_stdin(f.client, "big", std::string((1u << 20) + 1, 'x'))) ==
        errc::invalid_argument);
}

TEST_CASE("5 MiB written in 1 MiB stdin calls, each awaited, reach wc -c complete") {
  agent_fixture f;
  auto spec = command("wc", {"wc", "-c"});
  spec.open_stdin = true;
  f.start(spec);
  std::string chunk(1u << 20, 'z');
  for (int i = 0; i < 5; ++i) CHECK(code_of(send_stdin(f.client, "wc", chunk)) == errc::none);
  f.client.call(method::close_stdin, process_ref{"wc"});
  CHECK(f.client.until_exit("wc").exit_code == 0);
  CHECK(f.client.output("wc") == std::to_string(5u << 20) + "\n");
}

TEST_CASE("a stdin call is answered only once its bytes are in the pipe") {
  agent_fixture f;
  REQUIRE(::mkfifo((f.root.path / "tmp/go").c_str(), 0666) == 0);
  auto spec = command("wc", {"sh", "-c", "read line < /tmp/go; wc -c"});
  spec.open_stdin = true;
  f.start(spec);
  // 1 MiB does not fit in the pipe while nobody reads it.
  auto pending =
      f.client.send(method::stdin_data, stdin_chunk{"wc", std::vector<char>(1u << 20, 'y')});
  f.client.call(method::ping);  // the loop goes on meanwhile
  read_for(f.client, 200ms);
  CHECK_FALSE(f.client.has_response(pending));
  int go = ::open((f.root.path / "tmp/go").c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(go >= 0);
  REQUIRE(::write(go, "x\n", 2) == 2);
  ::close(go);
  CHECK(rpc::error_of(f.client.response(pending)).code == errc::none);
  f.client.call(method::close_stdin, process_ref{"wc"});
  CHECK(f.client.until_exit("wc").exit_code == 0);
  CHECK(f.client.output("wc") == "1048576\n");
}

TEST_CASE("stdin still waiting when the process exits is answered with conflict") {
  agent_fixture f;
  auto spec = command("sleeper", {"sleep", "1000"});
  spec.open_stdin = true;
  f.start(spec);
  auto pending =
      f.client.send(method::stdin_data, stdin_chunk{"sleeper", std::vector<char>(1u << 20, 'y')});
  f.client.call(method::signal, signal_request{"sleeper", SIGKILL});
  auto err = rpc::error_of(f.client.response(pending));
  CHECK(err.code == errc::conflict);
  // "exited"; in the instant between the pipe's close and the exit, "is closed (Broken pipe)".
  CHECK((has(err.message, "exited") || has(err.message, "closed")));
}

// --- output back-pressure ------------------------------------------------------------------------

TEST_CASE("20 MB of output read slowly arrive complete, in order, with a bounded queue") {
  agent_fixture f;
  constexpr int lines = 3'000'000;
  f.start(command("seq", {"seq", "1", std::to_string(lines)}));
  // Not reading at all for a while: the agent queues 1 MiB, then stops reading seq's pipe.
  std::this_thread::sleep_for(500ms);
  // Then reading slowly: 64 KiB at most per read, a pause every few reads.
  int reads = 0;
  while (!f.client.exit_of("seq")) {
    f.client.read_once();
    if (++reads % 8 == 0) std::this_thread::sleep_for(1ms);
  }
  std::string expected;
  expected.reserve(21'000'000);
  for (int i = 1; i <= lines; ++i) expected += std::to_string(i) + '\n';
  auto out = f.client.output("seq");
  REQUIRE(out.size() == expected.size());
  CHECK(out == expected);
  CHECK(f.client.exit_of("seq")->exit_code == 0);
  auto high = f.srv->output_high_water();
  WARN("output queue high-water mark: " << high << " bytes for " << out.size() << " bytes");
  CHECK(high >= (1u << 20));                 // the queue did fill up to the pause mark...
  CHECK(high <= (1u << 20) + (128u << 10));  // ...and not beyond one more read per pipe
}

// --- stats ---------------------------------------------------------------------------------------

TEST_CASE("stats reports plausible CPU, memory, process and uptime figures") {
  agent_fixture f;
  auto first = rpc::result_as<vm_stats>(f.client.call(method::stats));
  CHECK(first.memory_total > first.memory_used);
  CHECK(first.memory_used > 0);
  CHECK(first.cpus >= 1);
  CHECK(first.uptime_ms > 0);
  for (const auto& n : first.networks) CHECK(n.name != "lo");

  f.start(command("busy", {"sh", "-c", "while :; do :; done"}));
  for (int i = 0; i < 3; ++i) f.start(command("sleep" + std::to_string(i), {"sleep", "1000"}));
  std::this_thread::sleep_for(300ms);
  auto second = rpc::result_as<vm_stats>(f.client.call(method::stats));
  // The busy loop alone used most of 300 ms of one CPU.
  CHECK(second.cpu_ns >= first.cpu_ns + 100'000'000);
  CHECK(second.pids >= 4);
  CHECK(second.uptime_ms >= first.uptime_ms + 300);
}
