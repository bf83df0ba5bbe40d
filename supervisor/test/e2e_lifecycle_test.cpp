// End-to-end: detached containers through their lifecycle: ps, logs, stop with its timeout, rm;
// each container has its own filesystem; berthd's clean stop ends every VM.
#include "e2e.hpp"

using namespace berth::e2e;
using namespace std::chrono;

TEST_CASE("a detached container shows in ps, logs its output, stops and is removed") {
  auto& d = daemon::get();
  auto id =
      d.ok({"run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; exec sleep 1000"});
  REQUIRE(id.size() == 65);  // 64 hex digits and a newline
  auto ps = d.ok({"ps"});
  CHECK(ps.find("web") != std::string::npos);
  CHECK(ps.find("Up ") != std::string::npos);
  CHECK(d.ok({"ps", "-q"}) == id.substr(0, 12) + "\n");
  // The output may take a moment to reach the log after the container is running.
  CHECK(eventually([&] { return d.ok({"logs", "web"}) == "started\n"; }, seconds(20)));
  auto inspect = d.ok({"inspect", "web"});
  CHECK(inspect.find("\"Status\": \"running\"") != std::string::npos);
  auto rm_running = d.berth({"rm", "web"});
  CHECK(rm_running.code != 0);
  CHECK(rm_running.err.find("stop it first") != std::string::npos);
  // sleep is PID 1 of its namespace and has no SIGTERM handler: as under Docker it ignores the
  // stop signal, and stop kills it after the timeout.
  d.ok({"stop", "-t", "1", "web"});
  auto ps_all = d.ok({"ps", "-a"});
  CHECK(ps_all.find("Exited (137)") != std::string::npos);
  CHECK(d.ok({"ps", "-q"}).empty());
  CHECK(d.ok({"logs", "web"}) == "started\n");
  CHECK(d.ok({"rm", "web"}) == "web\n");
  CHECK(d.berth({"logs", "web"}).code != 0);
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
}

TEST_CASE("stop sends SIGKILL when the process ignores SIGTERM past the timeout") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "stubborn", "busybox", "sh", "-c",
        "trap '' TERM; echo ready; while true; do sleep 1; done"});
  REQUIRE(eventually([&] { return d.ok({"logs", "stubborn"}) == "ready\n"; }, seconds(20)));
  auto start = steady_clock::now();
  d.ok({"stop", "-t", "2", "stubborn"});
  auto took = duration_cast<milliseconds>(steady_clock::now() - start);
  CHECK(took >= milliseconds(1900));
  CHECK(took < seconds(12));
  CHECK(d.ok({"wait", "stubborn"}) == "137\n");
  d.ok({"rm", "stubborn"});
}

TEST_CASE("rm -f kills a running container and removes it") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "doomed", "busybox", "sleep", "1000"});
  d.ok({"rm", "-f", "doomed"});
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
  CHECK(qemu_processes(d.root().string()).empty());
}

TEST_CASE("two containers of one image do not see each other's writes") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "writer", "busybox", "sh", "-c",
        "echo mine > /etc/marker; echo done; exec sleep 1000"});
  REQUIRE(eventually([&] { return d.ok({"logs", "writer"}) == "done\n"; }, seconds(20)));
  auto other = d.berth({"run", "--rm", "busybox", "cat", "/etc/marker"});
  CHECK(other.code == 1);
  CHECK(other.err.find("No such file") != std::string::npos);
  // The writer's file is on its own disk: after a restart of the container it is still there.
  d.ok({"stop", "-t", "1", "writer"});
  auto log_before = d.ok({"logs", "writer"});
  d.ok({"start", "writer"});
  CHECK(eventually([&] { return d.ok({"logs", "writer"}) == log_before + "done\n"; }, seconds(30)));
  d.ok({"rm", "-f", "writer"});
}

TEST_CASE("wait blocks until the container exits and prints its code") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7"});
  CHECK(d.ok({"wait", "short"}) == "7\n");
  CHECK(d.ok({"ps", "-a"}).find("Exited (7)") != std::string::npos);
  d.ok({"rm", "short"});
}

TEST_CASE("names, id prefixes and bad names are handled like Docker") {
  auto& d = daemon::get();
  auto id = d.ok({"create", "--name", "named", "busybox", "true"});
  id.pop_back();
  CHECK(d.ok({"ps", "-a", "-q"}) == id.substr(0, 12) + "\n");
  CHECK(d.ok({"inspect", id.substr(0, 5)}).find("\"Name\": \"named\"") != std::string::npos);
  auto dup = d.berth({"create", "--name", "named", "busybox", "true"});
  CHECK(dup.code == 125);
  CHECK(dup.err.find("already in use") != std::string::npos);
  auto bad = d.berth({"create", "--name", "no/slashes", "busybox", "true"});
  CHECK(bad.code == 125);
  CHECK(d.berth({"start", "nosuchcontainer"}).err.find("No such container") != std::string::npos);
  d.ok({"rm", "named"});
}

TEST_CASE("cpus and memory size the VM") {
  auto& d = daemon::get();
  CHECK(d.ok({"run", "--rm", "--cpus", "2", "busybox", "nproc"}) == "2\n");
  auto mem =
      d.ok({"run", "--rm", "-m", "256m", "busybox", "sh", "-c", "grep MemTotal /proc/meminfo"});
  // 256 MiB for the workload plus the stated overhead, minus what the kernel reserves.
  auto kb = std::stol(mem.substr(mem.find(':') + 1));
  CHECK(kb > 200 * 1024);
  CHECK(kb < 340 * 1024);
  CHECK(d.berth({"run", "--rm", "--cpus", "64", "busybox", "true"}).code == 125);
  CHECK(d.berth({"run", "--rm", "-m", "lots", "busybox", "true"}).code == 125);
}

TEST_CASE("ps --filter selects by status, name, id, ancestor, health and exit code as Docker") {
  auto& d = daemon::get();
  auto running =
      d.ok({"run", "-d", "--name", "filter-up", "busybox", "sleep", "1000"}).substr(0, 12);
  CHECK(d.berth({"run", "--name", "filter-three", "busybox", "sh", "-c", "exit 3"}).code == 3);
  auto exited = d.ok({"ps", "-a", "-q", "--filter", "name=filter-three"});
  auto created = d.ok({"create", "--name", "filter-new", "busybox", "true"}).substr(0, 12);
  auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"ps", "-q"});
    return d.ok(args);
  };
  // A status filter lists stopped containers without -a; values of one key are alternatives.
  CHECK(ids({"--filter", "status=created"}) == created + "\n");
  CHECK(ids({"-f", "status=exited", "-f", "name=filter-"}) == exited);
  CHECK(ids({"-f", "status=running", "-f", "name=filter-"}) == running + "\n");
  auto both = ids({"-f", "status=created", "-f", "status=running", "-f", "name=filter-"});
  CHECK(both.find(created) != std::string::npos);
  CHECK(both.find(running) != std::string::npos);
  CHECK(both.find(exited) == std::string::npos);
  // Without a status filter only running containers are listed, as always.
  CHECK(ids({"-f", "name=filter-"}) == running + "\n");
  CHECK(ids({"-a", "-f", "exited=3"}) == exited);
  CHECK(ids({"-a", "-f", "exited=0", "-f", "name=filter-"}).empty());
  CHECK(ids({"-f", "id=" + running.substr(0, 6)}) == running + "\n");
  CHECK(ids({"-f", "ancestor=docker.io/library/busybox:latest", "-f", "name=filter-up"}) ==
        running + "\n");
  CHECK(ids({"-f", "ancestor=alpine"}).empty());
  CHECK(ids({"-f", "health=none", "-f", "name=filter-up"}) == running + "\n");
  auto table = d.ok({"ps", "-a", "-f", "name=filter-"});
  CHECK(table.rfind("CONTAINER ID   IMAGE", 0) == 0);
  CHECK(table.find("Exited (3)") != std::string::npos);
  auto bad = d.berth({"ps", "--filter", "foo=bar"});
  CHECK(bad.code == 1);
  CHECK(bad.err == "berth: invalid filter 'foo'\n");
  CHECK(d.berth({"ps", "--filter", "status=asleep"}).err ==
        "berth: invalid filter 'status=asleep'\n");
  d.ok({"rm", "-f", "filter-up", "filter-three", "filter-new"});
}
