// e2e_health: health checks as a Docker user sees them. A check given with --health-* or by the
// image's HEALTHCHECK runs inside the guest every interval; ps shows "(healthy)", "(unhealthy)"
// or "(health: starting)" and inspect shows State.Health with its log. Checks time out, respect
// the start period, start over on restart and after berthd adopts the VM, and --no-healthcheck
// turns the image's off. Intervals of 1 s keep each case within a few seconds of VM boot.
#include "e2e.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <sstream>

using namespace berth::e2e;
using namespace std::chrono;
using json = nlohmann::json;
using berthd = berth::e2e::daemon;

namespace {

// Live restore on, so a restart of berthd keeps the VMs for the adoption case.
berthd& suite_daemon() {
  static bool configured = [] {
    berthd::set_extra_args({"--live-restore=true"});
    return true;
  }();
  (void)configured;
  return berthd::get();
}

json inspect(const berthd& d, const std::string& name) {
  return json::parse(d.ok({"inspect", name})).at(0);
}

// State.Health, or null when inspect shows none.
json health_of(const berthd& d, const std::string& name) {
  auto state = inspect(d, name).at("State");
  return state.contains("Health") ? state.at("Health") : json();
}

std::string health_status(const berthd& d, const std::string& name) {
  auto h = health_of(d, name);
  return h.is_null() ? std::string("none") : h.at("Status").get<std::string>();
}

// The STATUS column of `ps` for a container: the line ending in its name.
std::string ps_line(const berthd& d, const std::string& name) {
  std::istringstream in(d.ok({"ps", "-a"}));
  std::string line;
  while (std::getline(in, line))
    if (line.size() > name.size() &&
        line.compare(line.size() - name.size(), name.size(), name) == 0 &&
        line[line.size() - name.size() - 1] == ' ')
      return line;
  return {};
}

bool ps_shows(const berthd& d, const std::string& name, const std::string& text) {
  return ps_line(d, name).find(text) != std::string::npos;
}

// "2026-01-02T03:04:05.123456789Z", as inspect writes times, in unix ns.
int64_t unix_ns(const std::string& rfc3339) {
  std::tm tm{};
  REQUIRE(rfc3339.size() == 30);
  REQUIRE(::strptime(rfc3339.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  return static_cast<int64_t>(::timegm(&tm)) * 1'000'000'000 + std::stoll(rfc3339.substr(20, 9));
}

int64_t now_ns() {
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

std::size_t container_count(const berthd& d) {
  std::istringstream in(d.ok({"ps", "-a", "-q"}));
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

TEST_CASE("a passing check makes a container healthy and a failing one unhealthy") {
  auto& d = suite_daemon();
  // --network none: the restart below is about health, not about taps coming and going.
  d.ok({"run", "-d", "--name", "hc-file", "--network", "none", "--health-cmd",
        "echo probe-out; test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "2",
        "busybox", "sh", "-c", "touch /tmp/ok; sleep 100000"});
  auto config = inspect(d, "hc-file").at("Config").at("Healthcheck");
  CHECK(config.at("Test") == json::array({"CMD-SHELL", "echo probe-out; test -f /tmp/ok"}));
  CHECK(config.at("Interval") == 1'000'000'000);
  CHECK(config.at("Retries") == 2);

  CHECK(eventually([&] { return ps_shows(d, "hc-file", "(healthy)"); }, seconds(30)));
  auto healthy = health_of(d, "hc-file");
  INFO(healthy.dump());
  CHECK(healthy.at("FailingStreak") == 0);
  REQUIRE(!healthy.at("Log").empty());
  CHECK(healthy.at("Log").back().at("ExitCode") == 0);
  CHECK(healthy.at("Log").back().at("Output") == "probe-out\n");

  // The check's file goes: two failures in a row make it unhealthy.
  d.ok({"exec", "hc-file", "rm", "/tmp/ok"});
  CHECK(eventually([&] { return health_status(d, "hc-file") == "unhealthy"; }, seconds(30)));
  auto sick = health_of(d, "hc-file");
  INFO(sick.dump());
  CHECK(sick.at("FailingStreak") >= 2);
  CHECK(sick.at("Log").size() <= 5);
  CHECK(sick.at("Log").back().at("ExitCode") == 1);
  CHECK(ps_shows(d, "hc-file", "(unhealthy)"));
  // Unhealthy is only reported: the container keeps running, as in Docker.
  CHECK(inspect(d, "hc-file").at("State").at("Status") == "running");

  // Back again once the check passes.
  d.ok({"exec", "hc-file", "touch", "/tmp/ok"});
  CHECK(eventually([&] { return health_status(d, "hc-file") == "healthy"; }, seconds(30)));
  CHECK(health_of(d, "hc-file").at("FailingStreak") == 0);

  // A restart starts health over: every result in the log is from the new run.
  d.ok({"exec", "hc-file", "rm", "/tmp/ok"});
  CHECK(eventually([&] { return health_status(d, "hc-file") == "unhealthy"; }, seconds(30)));
  d.ok({"restart", "-t", "0", "hc-file"});
  auto restarted = inspect(d, "hc-file");
  auto started_at = unix_ns(restarted.at("State").at("StartedAt").get<std::string>());
  auto after = restarted.at("State").at("Health");
  INFO(after.dump());
  CHECK(after.at("Status") != "unhealthy");
  CHECK(after.at("FailingStreak") == 0);
  for (auto& r : after.at("Log")) CHECK(unix_ns(r.at("Start").get<std::string>()) >= started_at);
  CHECK(eventually([&] { return health_status(d, "hc-file") == "healthy"; }, seconds(30)));

  // Stopped, it is checked no more; the last health stays for inspect, ps shows no suffix.
  d.ok({"stop", "-t", "0", "hc-file"});
  auto log_size = health_of(d, "hc-file").at("Log").size();
  std::this_thread::sleep_for(seconds(2));
  CHECK(health_of(d, "hc-file").at("Log").size() == log_size);
  auto stopped = ps_line(d, "hc-file");
  INFO(stopped);
  CHECK(stopped.find("Exited") != std::string::npos);
  CHECK(stopped.find("health") == std::string::npos);
  d.ok({"rm", "-f", "hc-file"});
}

TEST_CASE(
    "a check that outlives its timeout is killed and fails, the start period hides failures") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 30", "--health-timeout", "1s",
        "--health-interval", "1s", "--health-retries", "1", "busybox", "sleep", "100000"});
  d.ok({"run", "-d", "--name", "hc-grace", "--health-cmd", "echo nope; exit 3", "--health-interval",
        "1s", "--health-retries", "1", "--health-start-period", "1h", "busybox", "sleep",
        "100000"});

  CHECK(eventually([&] { return health_status(d, "hc-slow") == "unhealthy"; }, seconds(30)));
  auto slow = health_of(d, "hc-slow");
  INFO(slow.dump());
  REQUIRE(!slow.at("Log").empty());
  auto& timed_out = slow.at("Log").back();
  CHECK(timed_out.at("ExitCode") == -1);
  CHECK(timed_out.at("Output").get<std::string>().find("exceeded timeout (1s)") !=
        std::string::npos);
  // Ended at its timeout, not when sleep 30 would have.
  auto took = unix_ns(timed_out.at("End").get<std::string>()) -
              unix_ns(timed_out.at("Start").get<std::string>());
  CHECK(took >= 900'000'000);
  CHECK(took < 10'000'000'000);

  // Failures within the start period are logged but not counted: still starting.
  CHECK(eventually([&] { return health_of(d, "hc-grace").at("Log").size() >= 2; }, seconds(30)));
  auto grace = health_of(d, "hc-grace");
  INFO(grace.dump());
  CHECK(grace.at("Status") == "starting");
  CHECK(grace.at("FailingStreak") == 0);
  CHECK(grace.at("Log").back().at("ExitCode") == 3);
  CHECK(grace.at("Log").back().at("Output") == "nope\n");
  CHECK(ps_shows(d, "hc-grace", "(health: starting)"));
  d.ok({"rm", "-f", "hc-slow", "hc-grace"});
}

TEST_CASE("an image's HEALTHCHECK runs without flags and --no-healthcheck turns it off") {
  auto& d = suite_daemon();
  auto built = berth::os::run(
      {"env", "IMAGE_NAME=docker.io/library/checked:1",
       "IMAGE_CONFIG={\"Cmd\":[\"sh\",\"-c\",\"touch /tmp/ok; sleep 100000\"],"
       "\"Env\":[\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\"],"
       "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"test -f "
       "/tmp/ok\"],\"Interval\":1000000000,\"Retries\":2}}",
       "sh", (source_dir() / "scripts/fixtures/busybox-image.sh").string(), d.images().string()},
      seconds(60));
  REQUIRE(built.exit_code == 0);
  d.ok({"image", "load", "-i", (d.images() / "checked.tar").string()});
  auto image = json::parse(d.ok({"image", "inspect", "checked:1"})).at(0);
  CHECK(image.at("Config").at("Healthcheck").at("Test") ==
        json::array({"CMD-SHELL", "test -f /tmp/ok"}));

  d.ok({"run", "-d", "--name", "hc-image", "checked:1"});
  d.ok({"run", "-d", "--name", "hc-off", "--no-healthcheck", "checked:1"});
  auto config = inspect(d, "hc-image").at("Config").at("Healthcheck");
  CHECK(config.at("Test") == json::array({"CMD-SHELL", "test -f /tmp/ok"}));
  CHECK(config.at("Interval") == 1'000'000'000);
  CHECK(eventually([&] { return health_status(d, "hc-image") == "healthy"; }, seconds(30)));
  CHECK(ps_shows(d, "hc-image", "(healthy)"));

  // Meanwhile the other one ran as long without any check.
  CHECK(inspect(d, "hc-off").at("Config").at("Healthcheck").at("Test") == json::array({"NONE"}));
  CHECK(health_of(d, "hc-off").is_null());
  CHECK(ps_line(d, "hc-off").find("health") == std::string::npos);
  CHECK(ps_line(d, "hc-off").find("Up ") != std::string::npos);
  d.ok({"rm", "-f", "hc-image", "hc-off"});
}

TEST_CASE("bad health flags are usage errors and create nothing") {
  auto& d = suite_daemon();
  auto before = container_count(d);
  for (auto args : std::vector<std::vector<std::string>>{
           {"--health-interval", "5"},
           {"--health-timeout", "soon"},
           {"--health-retries", "-1"},
           {"--health-start-period", "-1s"},
           {"--no-healthcheck", "--health-cmd", "true"},
           {"--health-timeout", "500us"}}) {  // under Docker's 1 ms minimum: refused by berthd
    for (auto cmd : {"run", "create"}) {
      std::vector<std::string> line{cmd};
      line.insert(line.end(), args.begin(), args.end());
      line.insert(line.end(), {"busybox", "true"});
      auto r = d.berth(line);
      INFO(cmd << " " << args[0] << " -> " << r.err);
      CHECK(r.code == 125);
      CHECK(!r.err.empty());
    }
  }
  CHECK(container_count(d) == before);
}

TEST_CASE("after berthd restarts and adopts the VM, its checks start over") {
  auto& d = suite_daemon();
  d.ok({"run", "-d", "--name", "hc-adopt", "--health-cmd", "test -f /tmp/ok", "--health-interval",
        "1s", "busybox", "sh", "-c", "touch /tmp/ok; sleep 100000"});
  CHECK(eventually([&] { return health_status(d, "hc-adopt") == "healthy"; }, seconds(30)));
  auto pid = d.qemu_pid("hc-adopt");
  auto restarted_at = now_ns();
  d.restart();
  REQUIRE(d.qemu_pid("hc-adopt") == pid);  // adopted, not rebooted
  auto after = health_of(d, "hc-adopt");
  INFO(after.dump());
  CHECK(after.at("Status") != "unhealthy");
  for (auto& r : after.at("Log")) CHECK(unix_ns(r.at("Start").get<std::string>()) >= restarted_at);
  // And they run again: a fresh result arrives and it is healthy.
  CHECK(eventually(
      [&] {
        auto h = health_of(d, "hc-adopt");
        return h.at("Status") == "healthy" && !h.at("Log").empty();
      },
      seconds(30)));
  d.ok({"rm", "-f", "hc-adopt"});
}
