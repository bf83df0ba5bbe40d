// chaos_test: a seeded series of faults against a real berthd with real VMs, each followed by
// the checks a resilience-minded operator would make, ending in a table.
//
// Containers: `writer` (restart always) appends numbered lines to a volume, syncs, and only
// then prints "ack N": every acknowledged line must survive whatever happens. `sentry`
// (restart on-failure) and `plain` (no restart policy) sleep. Faults, picked by a seeded random
// generator: kill -9 of a QEMU, SIGSTOP of a QEMU for a moment (nothing may happen) or for longer
// than the heartbeat timeout (killed as unresponsive, policy applies), kill -9 of berthd (alone,
// or in the middle of a `run`, a `stop` or an image pull), a clean stop of berthd (live
// restore), a crash of one actor of berthd's tree (a supervisor or a vm actor, through
// debug.crash: no container may notice), a registry behind a proxy that answers 500, drops or
// corrupts blobs during a pull, a data root that runs out of space (berthd's data root is a tmpfs
// of its own), garbage and truncated frames on the RPC socket, and a `logs -f` client that
// vanishes. After each fault: berthd answers; each container is in the state its policy demands
// within the recovery limit; no acknowledged write is missing; no QEMU, tap, lease, mount or ingest
// file is left over, and every blob in the content store matches its digest.
//
//   BERTH_CHAOS_SEED=N      the seed (default: from the clock; always printed)
//   BERTH_CHAOS_FAULTS=N    how many faults (default 6: the ctest budget; run more by hand)
//   BERTH_CHAOS_ONLY=A,B    only these faults (their names as the table prints them)
#include "../supervisor/test/e2e.hpp"

#include "registry_support.hpp"

#include "berth/vm/qemu.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

using namespace berth::e2e;
using namespace std::chrono;
using berthd = berth::e2e::daemon;
namespace fixtures = berth::image::test;

namespace {

constexpr int heartbeat_timeout_s = 8;
constexpr auto recovery_limit = seconds(90);

// The data root's size: room for the kernel cache, the images and a few containers, small
// enough to fill in an instant.
constexpr std::uint64_t data_root_bytes = 768ull << 20;

berthd& chaos_daemon() {
  static bool configured = [] {
    berthd::set_data_size(data_root_bytes);
    berthd::set_extra_args({"--live-restore=true", "--heartbeat-timeout",
                            std::to_string(heartbeat_timeout_s), "--fault-injection"});
    return true;
  }();
  (void)configured;
  return berthd::get();
}

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::stoull(v);
}

nlohmann::json inspect(const berthd& d, const std::string& name) {
  auto r = d.berth({"inspect", name}, seconds(30));
  if (r.code != 0) return {};
  return nlohmann::json::parse(r.out, nullptr, false).at(0);
}

std::string status_of(const berthd& d, const std::string& name) {
  auto j = inspect(d, name);
  return j.is_object() ? j.at("State").at("Status").get<std::string>() : "";
}

pid_t pid_of(const berthd& d, const std::string& name) {
  auto j = inspect(d, name);
  return j.is_object() ? j.at("State").at("Pid").get<pid_t>() : 0;
}

// The numbers the writer acknowledged, from its log (every run of it).
std::set<long> acked(const berthd& d) {
  std::set<long> out;
  std::istringstream in(d.berth({"logs", "writer"}, seconds(60)).out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("ack ", 0) == 0) out.insert(std::stol(line.substr(4)));
  return out;
}

// The numbers in the writer's volume, read inside its VM.
std::optional<std::set<long>> written(const berthd& d) {
  auto r = d.berth({"exec", "writer", "cat", "/data/log"}, seconds(60));
  if (r.code != 0) return std::nullopt;
  std::set<long> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos)
      out.insert(std::stol(line));
  return out;
}

// Sends bytes on a fresh connection to berthd's socket and closes it.
void send_raw(const berthd& d, const std::string& bytes) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto path = (d.root() / "berthd.sock").string();
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(milliseconds(100));
  }
  ::close(fd);
}

// A registry inside berthd's network namespace (so berthd reaches it on its 127.0.0.1), behind a
// fault proxy, holding the layered fixture image; made when a fault first needs it. The test
// process's main thread moves into that namespace for good: the CLI talks to berthd over a unix
// socket, so nothing else changes.
struct registry_env {
  fixtures::temp_dir images;
  std::unique_ptr<fixtures::registry_server> reg;
  std::unique_ptr<fixtures::fault_proxy> proxy;
  std::string ref;  ///< The image, through the proxy.

  void calm() {
    proxy->fail_500 = 0;
    proxy->drop = 0;
    proxy->corrupt = 0;
    proxy->delay_ms = 0;
  }
};

registry_env& registry(const berthd& d) {
  static std::unique_ptr<registry_env> env;
  if (env) return *env;
  auto ns = "/proc/" + std::to_string(d.netns_holder()) + "/ns/net";
  berth::os::unique_fd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.get() >= 0);
  REQUIRE(::setns(fd.get(), CLONE_NEWNET) == 0);
  auto e = std::make_unique<registry_env>();
  fixtures::build_registry_fixtures(e->images.path());
  e->reg = std::make_unique<fixtures::registry_server>();
  e->reg->push(e->images / "layered-oci", "chaos/layered:1");
  e->proxy = std::make_unique<fixtures::fault_proxy>(e->reg->port());
  e->ref = e->proxy->host() + "/chaos/layered:1";
  env = std::move(e);
  return *env;
}

// Files left in the content store's ingest directory (none once no pull is in flight).
std::size_t ingest_files(const berthd& d) {
  std::error_code ec;
  std::size_t n = 0;
  for (auto it = fs::directory_iterator(d.data_root() / "content" / "ingest", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// Blobs in the content store whose content does not hash to their name (must be none).
std::vector<std::string> unverified_blobs(const berthd& d) {
  std::vector<std::string> bad;
  std::error_code ec;
  for (auto it = fs::directory_iterator(d.data_root() / "content" / "blobs" / "sha256", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto r = berth::os::run({"sha256sum", it->path().string()}, seconds(60));
    if (r.output.substr(0, 64) != it->path().filename().string())
      bad.push_back(it->path().filename().string());
  }
  return bad;
}

// Mount points under berthd's temporary directory (berthd runs in this process's mount
// namespace): only the data root's own tmpfs may be there.
std::vector<std::string> mounts_under(const fs::path& root) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point ...
    std::istringstream fields(line);
    std::string id, parent, dev, mroot, point;
    fields >> id >> parent >> dev >> mroot >> point;
    if (point.rfind(root.string(), 0) == 0) out.push_back(point);
  }
  return out;
}

// Takes every free byte of the data root with one file.
void fill(const fs::path& dir, const fs::path& ballast) {
  struct statvfs v {};
  REQUIRE(::statvfs(dir.c_str(), &v) == 0);
  berth::os::unique_fd fd(::open(ballast.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(fd.get() >= 0);
  // Most of it at once, then the rest a block at a time (berthd and the writer take some
  // meanwhile).
  auto bytes = static_cast<off_t>(v.f_bavail) * static_cast<off_t>(v.f_frsize);
  off_t at = std::max<off_t>(0, bytes - (1 << 20));
  REQUIRE(::posix_fallocate(fd.get(), 0, at) == 0);
  while (::posix_fallocate(fd.get(), at, 4096) == 0) at += 4096;
  REQUIRE(::statvfs(dir.c_str(), &v) == 0);
  INFO("free blocks after filling: " << v.f_bavail);
  CHECK(v.f_bavail == 0);
}

struct expectation {
  std::string policy;  ///< "always", "on-failure" or "no".
  bool alive = true;   ///< Whether it should run (a "no" container killed stays exited).
};

struct tally {
  int injected = 0;
  int recovered = 0;
  std::vector<double> seconds;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

TEST_CASE("berthd keeps containers and data through a seeded series of faults") {
  auto seed =
      env_number("BERTH_CHAOS_SEED",
                 static_cast<uint64_t>(system_clock::now().time_since_epoch().count()) % 1000000);
  auto faults = env_number("BERTH_CHAOS_FAULTS", 6);
  std::printf(
      "chaos: seed %llu, %llu faults (reproduce: BERTH_CHAOS_SEED=%llu BERTH_CHAOS_FAULTS=%llu "
      "%s)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults),
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(faults), "chaos_test");
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  auto& d = chaos_daemon();

  d.ok({"volume", "create", "chaosvol"});
  d.ok({"run", "-d", "--name", "writer", "--restart", "always", "-v", "chaosvol:/data", "busybox",
        "sh", "-c",
        "n=$(tail -n 1 /data/log 2>/dev/null); n=${n:-0}; "
        "while true; do n=$((n+1)); echo $n >> /data/log; sync; echo ack $n; sleep 0.2; done"});
  d.ok({"run", "-d", "--name", "sentry", "--restart", "on-failure", "busybox", "sleep", "1000000"});
  d.ok({"run", "-d", "--name", "plain", "busybox", "sleep", "1000000"});
  std::map<std::string, expectation> want = {
      {"writer", {"always", true}}, {"sentry", {"on-failure", true}}, {"plain", {"no", true}}};
  REQUIRE(eventually([&] { return acked(d).size() >= 3; }, seconds(60)));

  std::vector<std::string> kinds = {"kill -9 qemu",
                                    "pause qemu 3 s",
                                    "freeze qemu",
                                    "kill -9 berthd",
                                    "kill -9 berthd in a run",
                                    "kill -9 berthd in a stop",
                                    "kill -9 berthd in a pull",
                                    "stop berthd",
                                    "flaky registry",
                                    "full data root",
                                    "crash an actor",
                                    "garbage frames",
                                    "vanishing client"};
  if (const char* only = std::getenv("BERTH_CHAOS_ONLY"); only && *only) {
    std::vector<std::string> chosen;
    std::istringstream in(only);
    for (std::string k; std::getline(in, k, ',');) {
      INFO("BERTH_CHAOS_ONLY names an unknown fault: " << k);
      REQUIRE(std::find(kinds.begin(), kinds.end(), k) != kinds.end());
      chosen.push_back(k);
    }
    kinds = chosen;
  }
  std::map<std::string, tally> table;
  std::size_t lost_total = 0;
  int leaks = 0;
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };

  for (uint64_t f = 0; f < faults; ++f) {
    auto kind = kinds[pick(kinds.size())];
    std::vector<std::string> live;
    for (auto& [name, e] : want)
      if (e.alive) live.push_back(name);
    auto target = live.empty() ? std::string() : live[pick(live.size())];
    std::printf("chaos: fault %llu: %s%s\n", static_cast<unsigned long long>(f + 1), kind.c_str(),
                kind.find("qemu") != std::string::npos ? (" of " + target).c_str() : "");
    std::fflush(stdout);
    ++table[kind].injected;
    auto injected_at = steady_clock::now();
    std::map<std::string, pid_t> undisturbed;  ///< Containers that must keep their VM.
    pid_t before = target.empty() ? 0 : pid_of(d, target);

    if (kind == "kill -9 qemu" && before > 0) {
      ::kill(before, SIGKILL);
      if (want[target].policy == "no") want[target].alive = false;
    } else if (kind == "pause qemu 3 s" && before > 0) {
      ::kill(before, SIGSTOP);
      std::this_thread::sleep_for(seconds(3));
      ::kill(before, SIGCONT);
    } else if (kind == "freeze qemu" && before > 0) {
      ::kill(before, SIGSTOP);
      if (want[target].policy == "no") want[target].alive = false;
      // Noticed as unresponsive within the timeout and an interval; the VM is killed then.
      CHECK(eventually([&] { return !berth::os::process_alive(before); },
                       seconds(heartbeat_timeout_s * 3)));
    } else if (kind == "kill -9 berthd") {
      d.kill_berthd(SIGKILL);
      std::this_thread::sleep_for(milliseconds(500 + pick(2500)));
      d.start();
    } else if (kind == "kill -9 berthd in a run") {
      auto bin = (bin_dir() / "berth").string();
      auto name = "passer" + std::to_string(f);
      pid_t client = berth::os::spawn(
          {bin, "-H", d.host(), "run", "-d", "--name", name, "busybox", "sleep", "1000000"});
      std::this_thread::sleep_for(milliseconds(pick(3000)));
      d.kill_berthd(SIGKILL);
      ::waitpid(client, nullptr, 0);
      d.start();
      // Whatever state the interrupted run left, removing the container cleans it all up.
      d.berth({"rm", "-f", name}, seconds(60));
      CHECK(d.berth({"inspect", name}).code != 0);
    } else if (kind == "kill -9 berthd in a stop") {
      auto name = "stopper" + std::to_string(f);
      d.ok({"run", "-d", "--name", name, "busybox", "sleep", "1000000"});
      auto bin = (bin_dir() / "berth").string();
      pid_t client = berth::os::spawn({bin, "-H", d.host(), "stop", name});
      std::this_thread::sleep_for(milliseconds(pick(2000)));
      d.kill_berthd(SIGKILL);
      ::waitpid(client, nullptr, 0);
      d.start();
      // The next berthd finishes the stop it finds under way, or finds it done or never begun;
      // either way the container settles, and removing it leaves nothing.
      std::string s;
      CHECK(eventually(
          [&] {
            s = status_of(d, name);
            return s == "running" || s == "exited";
          },
          seconds(30)));
      INFO("status " << s);
      d.berth({"rm", "-f", name}, seconds(60));
      CHECK(d.berth({"inspect", name}).code != 0);
    } else if (kind == "kill -9 berthd in a pull") {
      auto& r = registry(d);
      r.proxy->delay_ms = 150;  // slow enough that the kill lands inside the pull
      auto bin = (bin_dir() / "berth").string();
      pid_t client = berth::os::spawn({bin, "-H", d.host(), "image", "pull", "-q", r.ref});
      std::this_thread::sleep_for(milliseconds(pick(1500)));
      d.kill_berthd(SIGKILL);
      ::waitpid(client, nullptr, 0);
      r.calm();
      d.start();
      // The next berthd cleared what the dead one was writing; the pull works from the start.
      CHECK(ingest_files(d) == 0);
      d.ok({"image", "pull", "-q", r.ref});
      CHECK(d.ok({"run", "--rm", r.ref, "ls", "/data"}) == "c\n");
      d.ok({"image", "rm", r.ref});
    } else if (kind == "flaky registry") {
      auto& r = registry(d);
      // 0: a 500, 1: a connection dropped inside a blob (both retried), 2: a corrupted blob
      // (rejected: the pull may fail), 3: every blob corrupted (the pull must fail).
      auto mode = pick(4);
      std::printf("chaos:   registry fault %zu\n", mode);
      if (mode == 0) r.proxy->fail_500 = 1;
      if (mode == 1) {
        r.proxy->drop = 1;
        r.proxy->drop_after = pick(2048);
      }
      if (mode == 2) r.proxy->corrupt = 1;
      if (mode == 3) r.proxy->corrupt = 1000;
      auto p = d.berth({"image", "pull", "-q", r.ref}, seconds(120));
      INFO("pull: exit " << p.code << "\n" << p.err);
      if (mode <= 1) CHECK(p.code == 0);
      if (mode == 3) CHECK(p.code != 0);
      if (p.code != 0) {
        CHECK(!p.err.empty());
        CHECK(d.berth({"image", "inspect", r.ref}).code != 0);  // no half-pulled image
      }
      r.calm();
      d.ok({"image", "pull", "-q", r.ref});
      d.ok({"image", "rm", r.ref});
    } else if (kind == "full data root") {
      auto ballast = d.data_root() / "ballast";
      fill(d.data_root(), ballast);
      // What needs space fails with a message and leaves nothing behind; berthd goes on.
      auto v = d.berth({"volume", "create", "fullvol"}, seconds(60));
      INFO("volume create: exit " << v.code << "\n" << v.err);
      CHECK(v.code != 0);
      CHECK(!v.err.empty());
      CHECK(d.berth({"volume", "inspect", "fullvol"}).code != 0);
      auto r =
          d.berth({"run", "-d", "--name", "filler", "busybox", "sleep", "1000000"}, seconds(120));
      INFO("run: exit " << r.code << "\n" << r.err);
      CHECK(r.code == 125);
      CHECK(!r.err.empty());
      std::printf("chaos:   volume create: %s", v.err.c_str());
      std::printf("chaos:   run: %s", r.err.c_str());
      d.berth({"rm", "-f", "filler"},
              seconds(60));  // a record may remain, as after any failed start
      // A container whose VM dies now cannot come back until there is room again: its restart
      // policy keeps trying, and the recovery check below sees it back once the space is.
      if (auto w = pid_of(d, "writer"); w > 0) ::kill(w, SIGKILL);
      std::this_thread::sleep_for(seconds(3));
      CHECK(d.berth({"system", "info"}, seconds(10)).code == 0);
      fs::remove(ballast);
    } else if (kind == "crash an actor") {
      std::vector<std::string> targets = {"store", "images", "nets", "vms"};
      targets.insert(targets.end(), live.begin(), live.end());
      auto victim = targets[pick(targets.size())];
      std::printf("chaos:   crashing %s\n", victim.c_str());
      for (auto& name : live) undisturbed[name] = pid_of(d, name);
      CHECK(eventually([&] { return d.crash_actor(victim).empty(); }, seconds(10)));
    } else if (kind == "stop berthd") {
      d.kill_berthd(SIGTERM);
      d.start();
    } else if (kind == "garbage frames") {
      std::string garbage;
      for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>(rng()));
      send_raw(d, garbage);
      send_raw(d, std::string("\x94\x00\x01\xa4") + "cont");  // a request cut short
      send_raw(d, std::string("\xdb\xff\xff\xff\xf0", 5));    // a 4 GiB string header
      send_raw(d, std::string(64, '\x91'));                   // arrays nested 64 deep
    } else if (kind == "vanishing client") {
      auto bin = (bin_dir() / "berth").string();
      pid_t client = berth::os::spawn({bin, "-H", d.host(), "logs", "-f", "writer"});
      std::this_thread::sleep_for(milliseconds(500 + pick(1500)));
      ::kill(client, SIGKILL);
      ::waitpid(client, nullptr, 0);
    }

    // Recovery: berthd answers and every container is where its policy says, with a VM of its
    // own, within the limit.
    bool ok = eventually(
        [&] {
          if (d.berth({"system", "info"}, seconds(10)).code != 0) return false;
          for (auto& [name, e] : want) {
            auto s = status_of(d, name);
            if (e.alive ? s != "running" : s != "exited") return false;
          }
          // A killed VM counts as recovered once its container runs in another one (until berthd
          // notices, the record still says running).
          if ((kind == "kill -9 qemu" || kind == "freeze qemu") && before > 0 &&
              want.at(target).alive && pid_of(d, target) == before)
            return false;
          return true;
        },
        recovery_limit);
    auto took = duration_cast<milliseconds>(steady_clock::now() - injected_at).count() / 1000.0;
    INFO("fault " << f + 1 << " (" << kind << "), seed " << seed << "\n"
                  << d.log().substr(d.log().size() > 6000 ? d.log().size() - 6000 : 0));
    CHECK(ok);
    if (ok) {
      ++table[kind].recovered;
      table[kind].seconds.push_back(took);
    }
    if (kind == "pause qemu 3 s" && before > 0)
      CHECK(pid_of(d, target) == before);  // a short pause is no fault
    for (auto& [name, pid] : undisturbed) {
      INFO(name << " had QEMU " << pid);
      CHECK(pid_of(d, name) == pid);
    }

    // Nothing acknowledged is lost. The writer acknowledges only after sync; what it wrote but
    // had not acknowledged may be gone.
    // The acknowledgements are read first: the writer goes on meanwhile, and what it acknowledges
    // after this read it wrote after it too.
    REQUIRE(eventually([&] { return written(d).has_value(); }, seconds(60)));
    auto acknowledged = acked(d);
    auto on_disk = *written(d);
    std::size_t lost = 0;
    std::string missing;
    for (auto n : acknowledged)
      if (!on_disk.count(n)) {
        ++lost;
        missing += " " + std::to_string(n);
      }
    INFO("acknowledged but not on the volume:" << missing);
    CHECK(lost == 0);
    lost_total += lost;

    // Nothing leaks: one QEMU per running container, one tap each, one lease per container.
    std::size_t running = 0;
    for (auto& [name, e] : want) running += e.alive;
    // Counted until they match (a VM the policy restarts is on its way), at most 30 s.
    std::size_t qemus = 0, taps = 0, lease_count = 0;
    bool clean = eventually(
        [&] {
          qemus = qemu_processes(d.root().string()).size();
          auto links = d.in_netns({"ip", "-o", "link"}).out;
          taps = 0;
          for (std::size_t pos = 0; (pos = links.find(": tb", pos)) != std::string::npos; ++pos)
            ++taps;
          lease_count = nlohmann::json::parse(d.ok({"network", "inspect", "default"}))
                            .at(0)
                            .at("Containers")
                            .size();
          return qemus == running && taps == running && lease_count == want.size();
        },
        seconds(30));
    auto mounts = mounts_under(d.root());
    INFO("qemus " << qemus << ", taps " << taps << ", leases " << lease_count << ", running "
                  << running << ", mounts " << mounts.size());
    CHECK(clean);
    CHECK(mounts == std::vector<std::string>{d.data_root().string()});
    CHECK(ingest_files(d) == 0);
    auto bad = unverified_blobs(d);
    INFO("blobs that do not match their digest:" << [&] {
      std::string t;
      for (auto& b : bad) t += " " + b;
      return t;
    }());
    CHECK(bad.empty());
    if (!clean || mounts.size() != 1) ++leaks;
  }

  std::printf("\nchaos: seed %llu\n", static_cast<unsigned long long>(seed));
  std::printf("%-26s %9s %10s %12s %9s\n", "FAULT", "INJECTED", "RECOVERED", "MEDIAN (s)",
              "MAX (s)");
  int injected = 0, recovered = 0;
  for (auto& [kind, t] : table) {
    auto max = t.seconds.empty() ? 0.0 : *std::max_element(t.seconds.begin(), t.seconds.end());
    std::printf("%-26s %9d %10d %12.1f %9.1f\n", kind.c_str(), t.injected, t.recovered,
                median(t.seconds), max);
    injected += t.injected;
    recovered += t.recovered;
  }
  std::printf("%-26s %9d %10d\n", "all", injected, recovered);
  std::printf("acknowledged writes lost: %zu (of %zu); checks that found a leak: %d\n", lost_total,
              acked(d).size(), leaks);
  std::fflush(stdout);

  for (auto name : {"writer", "sentry", "plain"}) d.berth({"rm", "-f", name}, seconds(120));
  d.ok({"volume", "rm", "chaosvol"});
}

// Found by seed 754441: `plain` and `sentry`, idle, were paused by QEMU on a write that the full
// data root refused (werror=enospc); berthd was killed before its heartbeat resumed them, and the
// next berthd, whose adoption starts with the agent handshake, found a guest that ran nothing and
// killed both VMs.
TEST_CASE("a VM paused on a full data root while berthd is down is adopted once there is room") {
  auto& d = chaos_daemon();
  // Slow writes of new blocks: the first one the full data root refuses pauses the VM.
  d.ok({"run", "-d", "--name", "pauser", "busybox", "sh", "-c",
        "i=0; while true; do dd if=/dev/zero of=/f$i bs=4k count=16 2>/dev/null; sync; "
        "sleep 0.2; i=$((i+1)); done"});
  auto pid = pid_of(d, "pauser");
  auto id = inspect(d, "pauser").at("Id").get<std::string>();
  auto qmp = d.run_root() / id.substr(0, 12) / "qmp.sock";
  auto status = [&] {
    auto s = berth::vm::qmp_command(qmp, "query-status", milliseconds(2000));
    return s ? *s : "QMP: " + caf::to_string(s.error());
  };
  auto ballast = d.data_root() / "ballast";
  fill(d.data_root(), ballast);
  std::string seen;
  bool paused = eventually(
      [&] {
        seen = status();
        return seen.find("\"io-error\"") != std::string::npos;
      },
      seconds(60));
  INFO("QEMU's status: " << seen);
  d.kill_berthd(SIGKILL);
  fs::remove(ballast);
  if (!paused) {
    d.start();
    d.berth({"rm", "-f", "pauser"}, seconds(60));
    FAIL("the VM did not pause on the full data root");
  }
  d.start();
  auto r = d.berth({"exec", "pauser", "echo", "adopted"}, seconds(60));
  INFO("exec: exit " << r.code << ": " << r.err << "\n" << d.log());
  CHECK(r.out == "adopted\n");
  CHECK(pid_of(d, "pauser") == pid);
  CHECK(status_of(d, "pauser") == "running");
  d.ok({"rm", "-f", "pauser"});
}
