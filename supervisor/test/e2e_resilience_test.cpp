// e2e_resilience: containers outlive berthd. A kill -9 or a clean stop of berthd leaves the VMs
// running; the next berthd adopts them (same QEMU, output written meanwhile kept, exec, stats,
// stop and published ports working) and applies restart policies to the ones that died
// meanwhile. A VM that stops answering is killed as unresponsive and its policy applies; a
// restart the policy makes that cannot start is tried again until it can.
#include "e2e.hpp"

#include <nlohmann/json.hpp>

#include <signal.h>

#include <future>
#include <sstream>

using namespace berth::e2e;
using namespace std::chrono;
using berthd = berth::e2e::daemon;

namespace {

constexpr int heartbeat_timeout_s = 8;

// Live restore on (the harness turns it off for other suites); a short heartbeat timeout so a
// stopped VM is noticed quickly; debug.crash to crash actors of the tree.
berthd& suite_daemon() {
  static bool configured = [] {
    berthd::set_extra_args({"--live-restore=true", "--heartbeat-timeout",
                            std::to_string(heartbeat_timeout_s), "--fault-injection"});
    return true;
  }();
  (void)configured;
  return berthd::get();
}

nlohmann::json inspect(const berthd& d, const std::string& name) {
  return nlohmann::json::parse(d.ok({"inspect", name})).at(0);
}

std::string status_of(const berthd& d, const std::string& name) {
  return inspect(d, name).at("State").at("Status").get<std::string>();
}

// Whether `name` runs in a VM other than the one of QEMU `old`. One inspect for both: a status
// and a pid read apart could straddle the kill of the old VM.
bool running_in_another_vm(const berthd& d, const std::string& name, pid_t old) {
  auto s = inspect(d, name).at("State");
  return s.at("Status") == "running" && s.at("Pid") != 0 && s.at("Pid") != old;
}

// The numbers of the "tick N" lines of a log, in order.
std::vector<int> ticks(const std::string& log) {
  std::vector<int> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("tick ", 0) == 0) out.push_back(std::stoi(line.substr(5)));
  return out;
}

// Whether the ticks count up by one from 0: no line lost, none repeated.
bool gapless(const std::vector<int>& t) {
  for (std::size_t i = 0; i < t.size(); ++i)
    if (t[i] != static_cast<int>(i)) return false;
  return true;
}

std::string host_get(const berthd& d, const std::string& url) {
  return d.in_netns({"curl", "-s", "-m", "5", url}).out;
}

const std::vector<std::string> ticker = {
    "busybox", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done"};

}  // namespace

TEST_CASE(
    "after kill -9 of berthd, running containers are adopted and dead ones follow their policy") {
  auto& d = suite_daemon();
  auto run = [&](std::vector<std::string> args, const std::vector<std::string>& cmd) {
    args.insert(args.begin(), {"run", "-d"});
    args.insert(args.end(), cmd.begin(), cmd.end());
    d.ok(args);
  };
  run({"--name", "ticker"}, ticker);
  run({"--name", "web", "-p", "127.0.0.1:18300:80"},
      {"busybox", "sh", "-c",
       "mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www"});
  run({"--name", "victim", "--restart", "on-failure"}, {"busybox", "sleep", "100000"});
  run({"--name", "gone"}, {"busybox", "sleep", "100000"});
  REQUIRE(eventually([&] { return ticks(d.ok({"logs", "ticker"})).size() >= 3; }, seconds(60)));
  REQUIRE(eventually([&] { return host_get(d, "http://127.0.0.1:18300/") == "hello-web\n"; },
                     seconds(30)));
  auto ticker_pid = d.qemu_pid("ticker");
  auto web_pid = d.qemu_pid("web");
  auto victim_pid = d.qemu_pid("victim");
  auto gone_pid = d.qemu_pid("gone");

  d.kill_berthd(SIGKILL);
  // While no berthd runs: two VMs die, the others go on (the ticker writes to nobody).
  REQUIRE(::kill(victim_pid, SIGKILL) == 0);
  REQUIRE(::kill(gone_pid, SIGKILL) == 0);
  std::this_thread::sleep_for(seconds(3));
  CHECK(berth::os::process_alive(ticker_pid));
  CHECK(berth::os::process_alive(web_pid));
  auto down_at = steady_clock::now();
  d.start();

  // Adopted: the same QEMU, still running, nothing it wrote meanwhile lost.
  CHECK(status_of(d, "ticker") == "running");
  CHECK(d.qemu_pid("ticker") == ticker_pid);
  CHECK(d.qemu_pid("web") == web_pid);
  auto before = ticks(d.ok({"logs", "ticker"})).size();
  REQUIRE(eventually(
      [&] {
        return ticks(d.ok({"logs", "ticker"})).size() >= before + 4;
      },
      seconds(30)));
  auto t = ticks(d.ok({"logs", "ticker"}));
  INFO("ticks: " << t.size() << ", the last " << t.back());
  CHECK(gapless(t));
  // Seconds of ticking passed while berthd was down; all of them are in the log.
  CHECK(t.size() >= 2 * static_cast<std::size_t>(
                            duration_cast<seconds>(steady_clock::now() - down_at).count()));
  CHECK(d.ok({"exec", "ticker", "echo", "alive"}) == "alive\n");
  CHECK(d.ok({"stats", "--no-stream", "--format", "json", "ticker"}).find("\"Name\":\"ticker\"") !=
        std::string::npos);
  CHECK(eventually([&] { return host_get(d, "http://127.0.0.1:18300/") == "hello-web\n"; },
                   seconds(30)));

  // Dead meanwhile: exited with the reason; on-failure brings the victim back in a new VM.
  auto gone = inspect(d, "gone").at("State");
  CHECK(gone.at("Status") == "exited");
  CHECK(gone.at("ExitCode") == 137);
  CHECK(gone.at("Error").get<std::string>().find("while berthd was not running") !=
        std::string::npos);
  CHECK(eventually([&] { return running_in_another_vm(d, "victim", victim_pid); }, seconds(60)));
  CHECK(inspect(d, "victim").at("RestartCount") == 1);

  // An adopted container stops as any other: its VM ends.
  d.ok({"stop", "-t", "1", "ticker"});
  CHECK(status_of(d, "ticker") == "exited");
  CHECK(eventually([&] { return !berth::os::process_alive(ticker_pid); }, seconds(10)));
  d.ok({"rm", "-f", "ticker", "web", "victim", "gone"});
}

TEST_CASE("a VM is adopted again by each of several berthds killed in a row") {
  // Each adoption leaves the agent's session in the state the next berthd finds: a VM that was
  // adopted once must be adopted as well as a fresh one.
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "steady", "busybox", "sleep", "100000"});
  auto pid = d.qemu_pid("steady");
  for (int round = 1; round <= 3; ++round) {
    INFO("after kill -9 of berthd number " << round);
    d.kill_berthd(SIGKILL);
    std::this_thread::sleep_for(milliseconds(300 * round));
    d.start();
    auto said = "round " + std::to_string(round) + "\n";
    auto r = d.berth({"exec", "steady", "echo", "round", std::to_string(round)}, seconds(60));
    INFO("exec: exit " << r.code << ": " << r.err << "\n" << d.ok({"logs", "--boot", "steady"}));
    REQUIRE(r.out == said);
    CHECK(d.qemu_pid("steady") == pid);
    CHECK(status_of(d, "steady") == "running");
  }
  CHECK(inspect(d, "steady").at("RestartCount") == 0);
  d.ok({"rm", "-f", "steady"});
  CHECK(eventually([&] { return !berth::os::process_alive(pid); }, seconds(10)));
}

TEST_CASE("guests that never answer the handshake after a restart do not hold up berthd") {
  // Frozen VMs: each adoption waits out QMP's and the handshake's timeouts (about 9 s). Done on
  // berthd's actor threads (CAF runs max(cores, 4) of them) four would hold everything up until
  // then; done in jobs, the other container is served at once and the frozen ones fail later.
  auto& d = suite_daemon();
  const std::vector<std::string> frozen = {"frozen1", "frozen2", "frozen3", "frozen4"};
  for (const auto& name : frozen) d.ok({"run", "-d", "--name", name, "busybox", "sleep", "100000"});
  d.ok({"run", "-d", "--name", "lively", "busybox", "sleep", "100000"});
  // Frozen only for a moment: what it is asked while its adoption waits is answered after.
  d.ok({"run", "-d", "--name", "thawed", "busybox", "sleep", "100000"});
  std::vector<pid_t> pids;
  for (const auto& name : frozen) pids.push_back(d.qemu_pid(name));
  auto thawed = d.qemu_pid("thawed");
  d.kill_berthd(SIGKILL);
  for (auto pid : pids) ::kill(pid, SIGSTOP);
  ::kill(thawed, SIGSTOP);
  d.start();
  auto held = std::async(std::launch::async, [&] {
    return d.berth({"exec", "thawed", "echo", "held"}, seconds(60));
  });
  std::this_thread::sleep_for(seconds(1));  // the exec reaches berthd meanwhile, and waits
  ::kill(thawed, SIGCONT);
  auto r = d.berth({"exec", "lively", "echo", "served"}, seconds(60));
  auto h = held.get();
  INFO("exec in thawed: exit " << h.code << ": " << h.err);
  CHECK(h.out == "held\n");
  CHECK(d.qemu_pid("thawed") == thawed);
  auto log_then = d.log();
  INFO("exec: exit " << r.code << ": " << r.err << "\n" << log_then);
  CHECK(r.out == "served\n");
  // Served before any frozen adoption gave up.
  CHECK(log_then.find("could not be reached after berthd restarted") == std::string::npos);
  // Then each frozen VM costs itself and nothing else.
  for (const auto& name : frozen) {
    INFO(name);
    CHECK(eventually([&] { return status_of(d, name) == "exited"; }, seconds(60)));
    CHECK_THAT(inspect(d, name).at("State").at("Error").get<std::string>(),
               Catch::Contains("could not be reached after berthd restarted"));
  }
  for (auto pid : pids) CHECK(!berth::os::process_alive(pid));
  CHECK(status_of(d, "lively") == "running");
  auto rm = frozen;
  rm.insert(rm.begin(), {"rm", "-f"});
  rm.push_back("lively");
  rm.push_back("thawed");
  d.ok(rm);
}

TEST_CASE("a clean stop of berthd leaves containers running, and the next berthd adopts them") {
  auto& d = suite_daemon();
  std::vector<std::string> args = {"run", "-d", "--name", "keeper"};
  args.insert(args.end(), ticker.begin(), ticker.end());
  d.ok(args);
  REQUIRE(eventually([&] { return ticks(d.ok({"logs", "keeper"})).size() >= 2; }, seconds(60)));
  auto pid = d.qemu_pid("keeper");
  d.kill_berthd(SIGTERM);
  CHECK(d.log().find("live restore: leaving 1 containers running") != std::string::npos);
  std::this_thread::sleep_for(seconds(2));
  CHECK(berth::os::process_alive(pid));
  d.start();
  CHECK(status_of(d, "keeper") == "running");
  CHECK(d.qemu_pid("keeper") == pid);
  CHECK(inspect(d, "keeper").at("RestartCount") == 0);
  CHECK(d.ok({"exec", "keeper", "echo", "alive"}) == "alive\n");
  auto before = ticks(d.ok({"logs", "keeper"})).size();
  REQUIRE(eventually(
      [&] {
        return ticks(d.ok({"logs", "keeper"})).size() >= before + 2;
      },
      seconds(30)));
  CHECK(gapless(ticks(d.ok({"logs", "keeper"}))));
  d.ok({"rm", "-f", "keeper"});
  CHECK(eventually([&] { return !berth::os::process_alive(pid); }, seconds(10)));
}

TEST_CASE("a VM that stops answering is killed as unresponsive and its restart policy applies") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "frozen", "busybox", "sleep", "100000"});
  d.ok({"run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "100000"});
  auto frozen = d.qemu_pid("frozen");
  auto phoenix = d.qemu_pid("phoenix");
  auto stopped_at = steady_clock::now();
  REQUIRE(::kill(frozen, SIGSTOP) == 0);
  REQUIRE(::kill(phoenix, SIGSTOP) == 0);
  bool noticed = eventually([&] { return status_of(d, "frozen") == "exited"; }, seconds(60));
  auto took = duration_cast<milliseconds>(steady_clock::now() - stopped_at).count();
  REQUIRE(noticed);
  // Stated in berthd --help: noticed within the timeout plus one heartbeat interval (a third of
  // it), give or take the time a busy machine takes to answer.
  WARN("an unresponsive VM was noticed after " << took << " ms (heartbeat timeout "
                                               << heartbeat_timeout_s << " s)");
  CHECK(took <= (heartbeat_timeout_s * 4 / 3 + 5) * 1000);
  auto state = inspect(d, "frozen").at("State");
  CHECK(state.at("ExitCode") == 137);
  CHECK(state.at("Error").get<std::string>().find("unresponsive") != std::string::npos);
  CHECK(eventually([&] { return !berth::os::process_alive(frozen); }, seconds(10)));
  CHECK(eventually([&] { return running_in_another_vm(d, "phoenix", phoenix); }, seconds(60)));
  CHECK(inspect(d, "phoenix").at("RestartCount") == 1);
  CHECK(d.ok({"exec", "phoenix", "echo", "back"}) == "back\n");
  d.ok({"rm", "-f", "frozen", "phoenix"});
}

TEST_CASE(
    "a restart the policy makes keeps trying while the VM cannot start, and succeeds once it can") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "stubborn", "--restart", "always", "busybox", "sleep", "100000"});
  auto id = inspect(d, "stubborn").at("Id").get<std::string>();
  auto disk = d.data_root() / "containers" / id / "rootfs.ext4";
  REQUIRE(fs::exists(disk));
  // Its disk goes away (a directory in its place: QEMU cannot open it), then its VM dies.
  auto aside = disk;
  aside += ".aside";
  fs::rename(disk, aside);
  fs::create_directory(disk);
  REQUIRE(::kill(d.qemu_pid("stubborn"), SIGKILL) == 0);
  // Each restart fails to start and the policy tries again, with backoff.
  CHECK(eventually([&] { return inspect(d, "stubborn").at("RestartCount") >= 3; }, seconds(60)));
  CHECK(inspect(d, "stubborn").at("State").at("Status") != "running");
  auto log = d.log();
  CHECK(log.find("container=" + id.substr(0, 12) + " failed to start") != std::string::npos);
  // The disk is back: the next try runs it.
  fs::remove(disk);
  fs::rename(aside, disk);
  CHECK(eventually([&] { return inspect(d, "stubborn").at("State").at("Status") == "running"; },
                   seconds(90)));
  CHECK(d.ok({"exec", "stubborn", "echo", "back"}) == "back\n");
  d.ok({"rm", "-f", "stubborn"});
}

TEST_CASE(
    "a crashed actor is restarted without disturbing containers, too many crashes end berthd "
    "non-zero") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "sturdy", "-p", "127.0.0.1:18301:80", "busybox", "sh", "-c",
        "mkdir -p /www && echo sturdy > /www/index.html && exec httpd -f -p 80 -h /www"});
  auto pid = d.qemu_pid("sturdy");
  // Exec reaches its guest, and its published port its web server.
  auto answers = [&] {
    auto r = d.berth({"exec", "sturdy", "echo", "ok"}, seconds(30));
    return r.code == 0 && r.out == "ok\n" && host_get(d, "http://127.0.0.1:18301/") == "sturdy\n";
  };
  REQUIRE(eventually(answers, seconds(30)));

  // Its vm actor throws: the vm supervisor starts another, which adopts the running VM.
  CHECK(d.crash_actor("sturdy").empty());
  CHECK(eventually(
      [&] {
        return d.log().find("adopting its running VM (qemu pid " + std::to_string(pid) + ")") !=
               std::string::npos;
      },
      seconds(30)));
  CHECK(eventually(answers, seconds(60)));
  CHECK(d.qemu_pid("sturdy") == pid);
  CHECK(inspect(d, "sturdy").at("RestartCount") == 0);

  // Each supervisor under the root crashes and is restarted; the container runs on in its VM
  // (after the net supervisor's restart it plugs again: its port proxy died with the old one).
  for (std::string target : {"vms", "nets", "images", "store"}) {
    INFO("crashed: " << target);
    CHECK(eventually([&] { return d.crash_actor(target).empty(); }, seconds(10)));
    CHECK(eventually(answers, seconds(60)));
    CHECK(d.qemu_pid("sturdy") == pid);
  }
  auto tail = [&] {
    auto l = d.log();
    return l.substr(l.size() > 5000 ? l.size() - 5000 : 0);
  };
  INFO("berthd log (tail):\n" << tail());
  // A service is unavailable for the moment it restarts; then it serves what it had.
  CHECK(eventually(
      [&] {
        auto r = d.berth({"image", "ls", "-q"});
        return r.code == 0 && !r.out.empty();
      },
      seconds(10)));

  // Crash after crash: the image supervisor exceeds its limit (5 in 30 s), the root gives up
  // and berthd ends with status 1, saying why. The VM runs on, and the next berthd adopts it.
  int status = -1;
  for (int i = 0; i < 20 && status < 0; ++i) {
    d.crash_actor("images");
    status = d.wait_exit(milliseconds(300));
  }
  if (status < 0) status = d.wait_exit(seconds(30));
  INFO("berthd log (tail) at its end:\n" << tail());
  CHECK(status == 1);
  CHECK(d.log().find("the supervision tree gave up") != std::string::npos);
  CHECK(berth::os::process_alive(pid));
  d.start();
  CHECK(status_of(d, "sturdy") == "running");
  CHECK(d.qemu_pid("sturdy") == pid);
  // The published port answers once the new net supervisor has plugged the adopted container
  // again, which may come after its exec is served.
  CHECK(eventually(answers, seconds(60)));
  d.ok({"rm", "-f", "sturdy"});
}
