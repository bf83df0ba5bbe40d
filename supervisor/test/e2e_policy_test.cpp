// End-to-end: what keeps containers alive and lean: restart policies with their counts, records
// and running containers surviving a restart of berthd, stats, and memory the guest frees going
// back to the host.
#include "e2e.hpp"

using namespace berth::e2e;
using namespace std::chrono;

namespace {

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

std::string field(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\": ");
  if (pos == std::string::npos) return {};
  auto start = pos + key.size() + 4;
  auto end = json.find_first_of(",\n}", start);
  return json.substr(start, end - start);
}

}  // namespace

TEST_CASE("a container with on-failure:2 that exits 1 runs exactly 3 times") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c",
        "echo run; exit 1"});
  REQUIRE(eventually(
      [&] {
        auto info = d.ok({"inspect", "flaky"});
        return field(info, "RestartCount") == "2" &&
               info.find("\"Status\": \"exited\"") != std::string::npos;
      },
      seconds(120)));
  std::this_thread::sleep_for(seconds(2));  // no fourth run follows
  CHECK(count(d.ok({"logs", "flaky"}), "run\n") == 3);
  auto info = d.ok({"inspect", "flaky"});
  CHECK(field(info, "RestartCount") == "2");
  // HostConfig.RestartPolicy is Docker's object, not the flag's text.
  CHECK(info.find("\"Name\": \"on-failure\"") != std::string::npos);
  CHECK(field(info, "MaximumRetryCount") == "2");
  CHECK(d.berth({"run", "--rm", "--restart", "always", "busybox", "true"}).code ==
        125);  // conflicts with --rm
  CHECK(d.berth({"run", "--restart", "sometimes", "busybox", "true"}).code == 125);
  d.ok({"rm", "flaky"});
}

TEST_CASE("stop ends restarts of an always container") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "looper", "--restart", "always", "busybox", "sh", "-c",
        "echo tick; sleep 1"});
  REQUIRE(eventually([&] { return count(d.ok({"logs", "looper"}), "tick\n") >= 2; }, seconds(60)));
  d.ok({"stop", "-t", "1", "looper"});
  auto ticks = count(d.ok({"logs", "looper"}), "tick\n");
  std::this_thread::sleep_for(seconds(5));
  CHECK(count(d.ok({"logs", "looper"}), "tick\n") == ticks);
  CHECK(d.ok({"ps", "-q"}).empty());
  d.ok({"rm", "looper"});
}

TEST_CASE(
    "containers survive a restart of berthd: records stay, always and unless-stopped run again") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "keeper", "--restart", "always", "busybox", "sleep", "100000"});
  d.ok({"run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep",
        "100000"});
  d.ok({"run", "-d", "--name", "stopped-unless", "--restart", "unless-stopped", "busybox", "sleep",
        "100000"});
  d.ok({"stop", "-t", "1", "stopped-unless"});
  d.ok({"run", "--name", "plain", "busybox", "true"});
  d.restart();
  auto all = d.ok({"ps", "-a"});
  for (auto name : {"keeper", "unless", "stopped-unless", "plain"})
    CHECK(all.find(name) != std::string::npos);
  CHECK(eventually(
      [&] {
        auto running = d.ok({"ps"});
        return running.find("keeper") != std::string::npos &&
               running.find("unless") != std::string::npos;
      },
      seconds(120)));
  CHECK(d.ok({"ps"}).find("stopped-unless") == std::string::npos);
  // Listed as soon as it is starting; exec needs it running.
  CHECK(eventually(
      [&] {
        return d.berth({"exec", "keeper", "echo", "alive"}).out == "alive\n";
      },
      seconds(60)));
  auto keeper = d.ok({"inspect", "keeper"});
  CHECK(keeper.find("\"Name\": \"always\"") != std::string::npos);
  CHECK(field(keeper, "MaximumRetryCount") == "0");
  d.ok({"rm", "-f", "keeper", "unless", "stopped-unless", "plain"});
}

TEST_CASE("stats shows CPU, guest memory, host RSS and I/O of a running container") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "busy", "busybox", "sh", "-c",
        "head -c 20000000 /dev/urandom > /tmp/f; sleep 100000"});
  auto out = d.ok({"stats", "--no-stream", "--format", "json", "busy"});
  CHECK(out.find("\"Name\":\"busy\"") != std::string::npos);
  CHECK(out.find("\"HostRSS\":") != std::string::npos);
  auto table = d.ok({"stats", "--no-stream", "busy"});
  CHECK(table.find("MEM USAGE / LIMIT") != std::string::npos);
  CHECK(table.find("busy") != std::string::npos);
  CHECK(d.berth({"stats", "--no-stream", "nosuch"}).code != 0);
  d.ok({"rm", "-f", "busy"});
}

TEST_CASE("300 MB freed inside the guest lower the VM's host RSS by at least 200 MB within 10 s") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "hog", "-m", "768m", "busybox", "sh", "-c",
        "head -c 300m /dev/zero > /dev/shm/blob; echo written; sleep 5; rm /dev/shm/blob; echo "
        "freed; sleep 100000"});
  REQUIRE(eventually(
      [&] {
        return d.ok({"logs", "hog"}).find("written") != std::string::npos;
      },
      seconds(120)));
  auto pid = d.qemu_pid("hog");
  REQUIRE(pid > 0);
  long peak = rss_kib(pid);
  REQUIRE(eventually(
      [&] {
        return d.ok({"logs", "hog"}).find("freed") != std::string::npos;
      },
      seconds(30)));
  auto freed_at = steady_clock::now();
  long low = peak;
  bool dropped = eventually(
      [&] {
        low = std::min(low, rss_kib(pid));
        return peak - low >= 200 * 1024;
      },
      seconds(10));
  INFO("host RSS: peak " << peak / 1024 << " MiB, lowest after free " << low / 1024
                         << " MiB, after "
                         << duration_cast<milliseconds>(steady_clock::now() - freed_at).count()
                         << " ms");
  CHECK(peak > 300 * 1024);
  CHECK(dropped);
  d.ok({"rm", "-f", "hog"});
}
