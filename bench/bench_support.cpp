// bench_support.cpp: see bench_support.hpp.
#include "bench_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>
#include <utility>

namespace berth::bench {

namespace {
// The daemon a failing benchmark must still stop: die() exits without unwinding.
daemon* live_daemon = nullptr;
}  // namespace

void die(const std::string& msg) {
  std::fprintf(stderr, "bench: %s\n", msg.c_str());
  if (auto* d = std::exchange(live_daemon, nullptr)) d->~daemon();
  std::exit(1);
}

fs::path self_dir() {
  return fs::read_symlink("/proc/self/exe").parent_path();
}

fs::path source_dir() {
  return BERTH_SOURCE_DIR;
}

vm_options parse_vm_options(int argc, char** argv, const std::string& name, int default_runs) {
  vm_options o;
  o.runs = default_runs;
  auto usage = [&] { die("usage: " + name + " [--runs N] [--kernel PATH]"); };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      o.runs = std::atoi(argv[++i]);
      if (o.runs < 1) usage();
    } else if (a == "--kernel" && i + 1 < argc) {
      o.kernel = argv[++i];
    } else {
      usage();
    }
  }
  return o;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

fs::path busybox_fixture(const fs::path& dir) {
  auto r =
      os::run({"sh", (source_dir() / "scripts/fixtures/busybox-image.sh").string(), dir.string()},
              std::chrono::seconds(120));
  if (r.exit_code != 0) die("fixture image: " + r.errors);
  return dir / "busybox.tar";
}

daemon::daemon(const fs::path& kernel, std::vector<std::string> extra_args) {
  char tmpl[] = "/tmp/berth-bench.XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  root_ = tmpl;
  host_ = "unix://" + (root_ / "berthd.sock").string();
  os::unique_fd log(
      ::open((root_ / "berthd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  os::spawn_options o;
  o.stdout_fd = log.get();
  o.stderr_fd = log.get();
  std::vector<std::string> argv = {(self_dir() / "berthd").string(),
                                   "--data-root",
                                   (root_ / "data").string(),
                                   "--run-root",
                                   (root_ / "run").string(),
                                   "-H",
                                   host_,
                                   "--log-level",
                                   "warn",
                                   "--kernel",
                                   kernel.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // berthd makes bridges, taps and an nft table: only in a network namespace of its own, never
  // the host's. unshare and sh exec, so pid_ is berthd's.
  std::vector<std::string> wrapped = {
      "unshare", "-n", "sh", "-c", "ip link set lo up && exec \"$@\"", "berthd"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  pid_ = os::spawn(wrapped, o);
  live_daemon = this;
  for (int i = 0; i < 1200 && berth({"system", "info"}).exit_code != 0; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      die("berthd exited; see " + (root_ / "berthd.log").string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ok({"image", "load", "-i", busybox_fixture(images()).string()});
}

daemon::~daemon() {
  if (live_daemon == this) live_daemon = nullptr;
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
}

os::run_result daemon::berth(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {(self_dir() / "berth").string(), "-H", host_};
  argv.insert(argv.end(), args.begin(), args.end());
  return os::run(argv, std::chrono::seconds(300));
}

std::string daemon::ok(const std::vector<std::string>& args) const {
  auto r = berth(args);
  if (r.exit_code != 0)
    die("berth " + (args.empty() ? std::string{} : args[0]) + " failed: " + r.errors);
  return r.output;
}

pid_t daemon::qemu_pid(const std::string& container) const {
  auto inspect = nlohmann::json::parse(ok({"inspect", container}));
  return inspect.at(0).at("State").at("Pid").get<pid_t>();
}

bool have_podman() {
  return os::run({"sh", "-c", "command -v podman"}).exit_code == 0;
}

podman::podman() {
  char tmpl[] = "/tmp/berth-bench-podman.XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  root_ = tmpl;
  for (auto d : {"root", "run", "tmp"}) fs::create_directories(root_ / d);
  // A process that holds the private mount namespace; podman runs in it through nsenter.
  ns_holder_ = os::spawn({"unshare", "-m", "--propagation", "private", "sh", "-c",
                          "umount /sys/fs/cgroup/unified 2>/dev/null; exec sleep 100000"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

podman::~podman() {
  run({"rm", "-a", "-f", "-t", "0"});
  run({"system", "reset", "-f"});
  if (ns_holder_ > 0) {
    ::kill(ns_holder_, SIGKILL);
    ::waitpid(ns_holder_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::vector<std::string> podman::command() const {
  return {"nsenter",
          "-t",
          std::to_string(ns_holder_),
          "-m",
          "podman",
          "--root",
          (root_ / "root").string(),
          "--runroot",
          (root_ / "run").string(),
          "--tmpdir",
          (root_ / "tmp").string()};
}

os::run_result podman::run(const std::vector<std::string>& args) const {
  auto argv = command();
  argv.insert(argv.end(), args.begin(), args.end());
  return os::run(argv, std::chrono::seconds(300));
}

std::string podman::ok(const std::vector<std::string>& args) const {
  auto r = run(args);
  if (r.exit_code != 0)
    die("podman " + (args.empty() ? std::string{} : args[0]) + " failed: " + r.errors);
  return r.output;
}

std::vector<std::string> podman::run_options() {
  return {"--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"};
}

long smaps_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

}  // namespace berth::bench
