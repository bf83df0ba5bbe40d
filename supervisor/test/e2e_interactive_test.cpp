// End-to-end: working inside containers as Docker users do: an interactive terminal, exec into
// a running container, stdin through pipes, attach, logs -f/-n/-t, kill, restart, stop -s.
#include "e2e.hpp"

#include <termios.h>

#include <csignal>
#include <fstream>

using namespace berth::e2e;
using namespace std::chrono;

TEST_CASE("run -it gives a real terminal: type, read, resize, Ctrl-C, exit") {
  auto& d = daemon::get();
  pty_session t(d, {"run", "--rm", "-it", "busybox", "sh"}, 30, 100);
  REQUIRE(t.expect("# ", seconds(90)));
  t.type("echo hi-$((6*7))\r");
  CHECK(t.expect("hi-42"));
  t.type("tty\r");
  CHECK(t.expect("/dev/pts/"));
  t.type("stty size\r");
  CHECK(t.expect("30 100"));
  t.resize(50, 120);
  std::this_thread::sleep_for(milliseconds(500));  // SIGWINCH to the CLI, resize to the guest
  t.type("stty size\r");
  CHECK(t.expect("50 120"));
  // Ctrl-C reaches the foreground process inside, not the CLI: sleep dies, the shell lives.
  t.type("sleep 100\r");
  std::this_thread::sleep_for(seconds(1));
  t.type("\x03");
  t.type("echo after-$((1+1))\r");
  CHECK(t.expect("after-2", seconds(10)));
  t.type("exit 7\r");
  CHECK(t.wait() == 7);
}

TEST_CASE("exec runs in the running container's namespace, with -e -w -u and exit codes") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "box", "busybox", "sleep", "100000"});
  auto ps = d.ok({"exec", "box", "ps", "-o", "pid,args"});
  CHECK(ps.find("1 sleep 100000") != std::string::npos);
  CHECK(d.ok({"exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "app", "box", "sh", "-c",
              "echo $FOO $(pwd) $(id -u)"}) == "bar /tmp 1000\n");
  CHECK(d.berth({"exec", "box", "sh", "-c", "exit 5"}).code == 5);
  auto missing = d.berth({"exec", "box", "nosuchcommand"});
  CHECK(missing.code == 127);
  CHECK(d.ok({"exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark"}).empty());
  CHECK(eventually(
      [&] {
        return d.berth({"exec", "box", "cat", "/tmp/mark"}).out == "detached\n";
      },
      seconds(20)));
  // stdin through a pipe, and EOF closes it.
  auto echoed = d.berth({"exec", "-i", "box", "sh", "-c", "tr a-z A-Z"});
  CHECK(echoed.code == 0);
  {
    // berth exec -i with input from a file, as `... < file` would.
    auto input = d.root() / "input.txt";
    std::ofstream(input) << "shout this\n";
    auto r = berth::os::run(
        {"sh", "-c",
         (bin_dir() / "berth").string() + " -H unix://" + (d.root() / "berthd.sock").string() +
             " exec -i box tr a-z A-Z < " + input.string()},
        seconds(60));
    CHECK(r.output == "SHOUT THIS\n");
  }
  pty_session t(d, {"exec", "-it", "box", "sh"});
  REQUIRE(t.expect("# "));
  t.type("echo $$ inside\r");
  CHECK(t.expect("inside"));
  t.type("exit 3\r");
  CHECK(t.wait() == 3);
  CHECK(d.berth({"exec", "nosuchcontainer", "true"}).code != 0);
  d.ok({"rm", "-f", "box"});
  auto stopped = d.berth({"exec", "box", "true"});
  CHECK(stopped.code != 0);
}

TEST_CASE("run -i streams stdin to the container and EOF ends it") {
  auto& d = daemon::get();
  auto input = d.root() / "lines.txt";
  {
    std::ofstream out(input);
    for (int i = 0; i < 20000; ++i) out << "line " << i << "\n";
  }
  auto r = berth::os::run(
      {"sh", "-c",
       (bin_dir() / "berth").string() + " -H unix://" + (d.root() / "berthd.sock").string() +
           " run --rm -i busybox wc -l < " + input.string()},
      seconds(120));
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("20000") != std::string::npos);
}

TEST_CASE("logs follows live output, tails and timestamps, attach sees the rest") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "talker", "busybox", "sh", "-c",
        "echo one; echo two; sleep 3; echo three; exit 4"});
  // -f returns when the container exits, with everything in order exactly once.
  CHECK(d.ok({"logs", "-f", "talker"}) == "one\ntwo\nthree\n");
  CHECK(d.ok({"logs", "-n", "1", "talker"}) == "three\n");
  auto stamped = d.ok({"logs", "-t", "talker"});
  CHECK(stamped.find("Z one\n") != std::string::npos);
  CHECK(stamped.rfind("20", 0) == 0);
  CHECK(d.ok({"logs", "--boot", "talker"}).find("berth-init") != std::string::npos);
  d.ok({"rm", "talker"});
  d.ok({"run", "-d", "--name", "late", "busybox", "sh", "-c", "sleep 3; echo late; exit 6"});
  auto attached = d.berth({"attach", "late"});
  CHECK(attached.out == "late\n");
  CHECK(attached.code == 6);
  d.ok({"rm", "late"});
}

TEST_CASE("kill -s delivers a signal, stop -s too, and restart runs the container again") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "trapper", "busybox", "sh", "-c",
        "trap 'echo got HUP; exit 3' HUP; echo ready; while true; do sleep 1; done"});
  REQUIRE(eventually([&] { return d.ok({"logs", "trapper"}) == "ready\n"; }, seconds(30)));
  d.ok({"kill", "-s", "HUP", "trapper"});
  CHECK(d.ok({"wait", "trapper"}) == "3\n");
  CHECK(d.ok({"logs", "trapper"}) == "ready\ngot HUP\n");
  d.ok({"restart", "trapper"});
  CHECK(eventually(
      [&] {
        return d.ok({"logs", "trapper"}) == "ready\ngot HUP\nready\n";
      },
      seconds(30)));
  d.ok({"stop", "-s", "SIGHUP", "-t", "5", "trapper"});
  CHECK(d.ok({"ps", "-a"}).find("Exited (3)") != std::string::npos);
  CHECK(d.berth({"kill", "trapper"}).code != 0);  // not running
  d.ok({"rm", "trapper"});
}

TEST_CASE("create then start -a -i runs the command with stdin attached") {
  auto& d = daemon::get();
  d.ok({"create", "-i", "--name", "catter", "busybox", "cat"});
  auto input = d.root() / "cat.txt";
  std::ofstream(input) << "through start\n";
  auto r = berth::os::run(
      {"sh", "-c",
       (bin_dir() / "berth").string() + " -H unix://" + (d.root() / "berthd.sock").string() +
           " start -a -i catter < " + input.string()},
      seconds(120));
  CHECK(r.output == "through start\n");
  CHECK(r.exit_code == 0);
  d.ok({"rm", "catter"});
}

TEST_CASE("run -t without -i ends lines with CR LF once: the local terminal is raw") {
  auto& d = daemon::get();
  pty_session t(d, {"run", "--rm", "-t", "busybox", "sh", "-c", "echo one; echo two"});
  CHECK(t.wait(seconds(90)) == 0);
  INFO("output: " << t.output());
  CHECK(t.output().find("one\r\ntwo\r\n") != std::string::npos);
  CHECK(t.output().find("\r\r\n") == std::string::npos);
}

TEST_CASE("run -it passes an end of file typed before the container ran as Ctrl-D, not as ^@") {
  // `script -c 'berth run -it ...' < /dev/null` types Ctrl-D at once, while the terminal is
  // still cooked; the kernel keeps that end of file as a NUL byte for a later raw read.
  auto& d = daemon::get();
  pty_session t(d, {"run", "--rm", "-it", "busybox", "sh", "-c", "sleep 1; echo after-eof"});
  t.type("\x04");
  REQUIRE(t.expect("after-eof", seconds(90)));
  CHECK(t.wait() == 0);
  INFO("output: " << t.output());
  CHECK(t.output().find("^@") == std::string::npos);
  CHECK(t.output().find('\0') == std::string::npos);
}

TEST_CASE("Ctrl-C ends run -t and leaves the terminal as it was") {
  auto& d = daemon::get();
  pty_session t(d, {"run", "--rm", "--name", "interrupted", "-t", "busybox", "sh", "-c",
                    "echo waiting; sleep 60"});
  REQUIRE(t.expect("waiting", seconds(90)));
  t.type("\x03");  // the terminal's input is not raw without -i: this is SIGINT to the CLI
  CHECK(t.wait(seconds(20)) == 128 + SIGINT);
  termios settings{};
  REQUIRE(::tcgetattr(t.master_fd(), &settings) == 0);
  CHECK((settings.c_oflag & OPOST) != 0);
  d.ok({"rm", "-f", "interrupted"});
}
