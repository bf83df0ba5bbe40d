// e2e_logs: a guest cannot fill the host's disk through what it prints. One VM prints more than
// its --log-opt allows to stdout while it floods its serial console: the container's log files
// stay within max-size * max-file, `logs`, `logs -n` and `logs -f` read across the rotated files,
// and console.log stays under its cap plus what the guest can print between two heartbeats.
// Bad --log-opt values are refused by the CLI and by berthd, and nothing is created.
#include "e2e.hpp"

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <sstream>
#include <thread>

using namespace berth::e2e;
using namespace std::chrono;

namespace {

// The console cap of vm-actor/src/container_log.hpp, and the heartbeat period under berthd's
// default --heartbeat-timeout (30 s: a beat every 10 s).
constexpr uint64_t console_cap = 1u << 20;
constexpr double beat_period_s = 10;

uint64_t size_of(const fs::path& p) {
  struct stat sb {};
  return ::stat(p.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
}

std::size_t count_containers(const berth::e2e::daemon& d) {
  auto out = d.ok({"ps", "-a", "-q"});
  return static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n'));
}

}  // namespace

TEST_CASE("bad --log-opt values are refused by the CLI and by berthd and nothing is created") {
  auto& d = berth::e2e::daemon::get();
  auto before = count_containers(d);
  for (auto opt :
       {"max-size=0", "max-size=ten", "max-file=0", "max-file=1000", "compress=true", "max-size"}) {
    auto r = d.berth({"create", "--log-opt", opt, "busybox", "true"});
    INFO(opt << ": " << r.err);
    CHECK(r.code == 125);
    CHECK(r.err.find("log") != std::string::npos);
  }
  // A client that skips the CLI's check meets berthd's.
  berth::api::container_spec spec;
  spec.image = "busybox";
  spec.cmd = {"true"};
  spec.log_opts = {{"max-file", "0"}};
  auto c = berth::rpc::client::connect(d.host());
  try {
    c.call<berth::api::created>(berth::api::method::container_create, spec);
    FAIL("berthd created a container with max-file=0");
  } catch (const berth::rpc::call_error& e) {
    CHECK(std::string(e.what()).find("max-file") != std::string::npos);
  }
  CHECK(count_containers(d) == before);
}

TEST_CASE("a guest printing without end stays within its log files and its console cap") {
  auto& d = berth::e2e::daemon::get();
  // stdout: 10800 whole lines (302 kB) then END, more than 64k * 3 files hold; then the serial
  // console, without end.
  // One after the other: under TCG a guest flooding its UART leaves little CPU for anything else.
  auto id = d.ok({"run", "-d", "--name", "chatty", "--log-opt", "max-size=64k", "--log-opt",
                  "max-file=3", "busybox", "sh", "-c",
                  "yes 'output line of the workload' | head -n 10800; echo END; "
                  "yes 'console flood from the guest' > /dev/console & "
                  "exec sleep 100000"});
  id.erase(id.find_last_not_of('\n') + 1);
  // A follower from the start: it reads files that rotate under it, then the live output.
  result followed;
  std::thread follower([&] { followed = d.berth({"logs", "-f", "chatty"}, seconds(400)); });
  auto info = nlohmann::json::parse(d.ok({"inspect", "chatty"})).at(0);
  CHECK(info["HostConfig"]["LogConfig"]["Config"]["max-size"] == "64k");
  CHECK(info["HostConfig"]["LogConfig"]["Config"]["max-file"] == "3");
  auto dir = d.data_root() / "containers" / id;
  REQUIRE(fs::is_directory(dir));

  // Watch the console from the host while the workload prints: its size, its cuts, its rate.
  auto console = dir / "console.log";
  uint64_t largest = 0, cuts = 0, appended = 0, last = size_of(console);
  double fastest = 0;  // bytes per second over one sample
  auto start = steady_clock::now();
  auto sample_at = start;
  bool output_done = false;
  int samples = 0;
  while (steady_clock::now() - start < seconds(150) && (cuts < 2 || !output_done)) {
    std::this_thread::sleep_for(milliseconds(100));
    auto now = steady_clock::now();
    auto size = size_of(console);
    largest = std::max(largest, size);
    if (size < last) {
      ++cuts;
    } else {
      appended += size - last;
      auto dt = duration<double>(now - sample_at).count();
      fastest = std::max(fastest, static_cast<double>(size - last) / dt);
    }
    last = size;
    sample_at = now;
    if (!output_done && ++samples % 10 == 0)
      output_done = d.ok({"logs", "-n", "1", "chatty"}) == "END\n";
  }
  auto elapsed = duration<double>(steady_clock::now() - start).count();
  auto rate = static_cast<double>(appended) / elapsed;
  std::printf(
      "berth-figure: guest serial console under this accelerator: %.0f KiB/s on average, %.0f "
      "KiB/s at most over 100 ms; console.log at most %.0f KiB (cap %.0f KiB), %llu cuts\n",
      rate / 1024, fastest / 1024, static_cast<double>(largest) / 1024,
      static_cast<double>(console_cap) / 1024, static_cast<unsigned long long>(cuts));
  if (!output_done) {
    d.berth({"rm", "-f", "chatty"});  // ends the follower, which must not outlive the test
    follower.join();
    FAIL("the workload's output did not end within 150 s");
  }
  CHECK(cuts >= 1);
  // Overshoot: what the guest prints in one heartbeat period, at the rate it printed here.
  CHECK(static_cast<double>(largest) <= console_cap + rate * beat_period_s * 1.5 + 65536);
  CHECK(size_of(dir / "console.log.1") <= console_cap);

  // The container's log: three files of at most 64k each, nothing more on disk.
  uint64_t total = 0;
  for (auto name : {"container.log", "container.log.1", "container.log.2"}) {
    INFO(name);
    CHECK(size_of(dir / name) <= 64000);
    total += size_of(dir / name);
  }
  CHECK_FALSE(fs::exists(dir / "container.log.3"));
  CHECK(total <= 3 * 64000);
  // A file is rotated only when the next record does not fit in it, so the oldest file and the
  // first record of the next hold more than max-size together. (Not 2 * max-size: the newest
  // file may hold only END, as in CI once, and the records are pipe reads of any size.)
  CHECK(total > 64000);

  // Every way of reading it reads across the files and ends where the output ended, with no
  // byte lost or repeated between them: after the first line (rotation removed the start of it
  // with an older file) every line is whole.
  auto all = d.ok({"logs", "chatty"});
  CHECK(all.size() <= total);
  CHECK(all.size() > 64000 - 4096);  // what the files hold, less 31-byte headers of >= 4 KiB reads
  CHECK(all.substr(all.size() - 4) == "END\n");
  {
    std::istringstream lines(all);
    std::string line;
    std::getline(lines, line);
    std::size_t whole = 0, other = 0;
    while (std::getline(lines, line)) (line == "output line of the workload" ? whole : other) += 1;
    CHECK(other == 1);  // END
    CHECK(whole > 2000);
  }
  auto tail = d.ok({"logs", "-n", "3", "chatty"});
  CHECK(all.substr(all.size() - tail.size()) == tail);
  CHECK(std::count(tail.begin(), tail.end(), '\n') == 3);
  auto boot = d.ok({"logs", "--boot", "chatty"});
  CHECK(boot.find("console flood from the guest") != std::string::npos);
  CHECK(boot.size() <= 2 * largest);

  // logs -f saw all of it, the files that rotated away while it read included, and ends with
  // the container; what is kept is the end of what it saw.
  d.ok({"stop", "-t", "1", "chatty"});
  follower.join();
  CHECK(followed.code == 0);
  CHECK(followed.out.size() >= all.size());
  CHECK(followed.out.substr(followed.out.size() - all.size()) == all);
  CHECK(followed.out.find("output line of the workload\n") < 100);
  CHECK(d.ok({"logs", "-f", "chatty"}) == all);
  d.ok({"rm", "chatty"});
  CHECK_FALSE(fs::exists(dir));
}
