// bench_support: what the benchmarks share: a berthd of their own in a temporary directory with
// the busybox fixture loaded, podman kept away from the host's state (PEERS.md), and statistics.
#pragma once

#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/random.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::bench {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// Prints "BENCH: msg" to stderr and exits 1.
[[noreturn]] void die(const std::string& msg);

/// The directory of the running benchmark binary (where berthd, berth and berth-init are).
fs::path self_dir();

/// The source tree (for the fixture scripts).
fs::path source_dir();

/// What every VM benchmark takes on its command line: `--runs N` and `--kernel PATH`.
struct vm_options {
  int runs = 0;
  fs::path kernel = "/var/cache/berth/kernel/default";
};

/// Parses `name [--runs N] [--kernel PATH]`; dies with that usage on anything else or N < 1.
vm_options parse_vm_options(int argc, char** argv, const std::string& name, int default_runs);

/// Seconds since `t`.
double seconds_since(clock_type::time_point t);

/// Median, and the p-th percentile (0..100, nearest rank) of `v`.
double median(std::vector<double> v);
double percentile(std::vector<double> v, double p);

/// Builds the busybox fixture (scripts/fixtures/busybox-image.sh) into `dir`; returns the OCI
/// archive's path.
fs::path busybox_fixture(const fs::path& dir);

/// A berthd of the benchmark's own, with busybox loaded; stopped and deleted at destruction.
class daemon {
 public:
  explicit daemon(const fs::path& kernel, std::vector<std::string> extra_args = {});
  ~daemon();
  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  /// Runs `berth -H HOST args...` to completion.
  os::run_result berth(const std::vector<std::string>& args) const;
  /// The same, dying with its stderr unless it exits 0; returns stdout.
  std::string ok(const std::vector<std::string>& args) const;
  /// The host pid of a running container's QEMU.
  pid_t qemu_pid(const std::string& container) const;

  /// berthd's pid: /proc/PID/ns/net is the network namespace its containers' networks live in.
  pid_t pid() const { return pid_; }
  const fs::path& root() const { return root_; }
  const std::string& host() const { return host_; }
  fs::path images() const { return root_ / "images"; }

 private:
  fs::path root_;
  std::string host_;
  pid_t pid_ = -1;
};

/// podman 4 as PEERS.md says it runs here: its own root, runroot and tmpdir in a temporary
/// directory, inside a private mount namespace without the cgroup v2 mount crun refuses; no
/// network. Everything it made is removed at destruction.
class podman {
 public:
  podman();
  ~podman();
  podman(const podman&) = delete;
  podman& operator=(const podman&) = delete;

  /// The argv prefix that runs podman with this state: `nsenter -t NS -m podman --root ...`.
  std::vector<std::string> command() const;
  /// Runs `podman args...`.
  os::run_result run(const std::vector<std::string>& args) const;
  /// The same, dying unless it exits 0; returns stdout.
  std::string ok(const std::vector<std::string>& args) const;
  /// The options `podman run` needs on this machine (limits, no network).
  static std::vector<std::string> run_options();

 private:
  fs::path root_;
  pid_t ns_holder_ = -1;
};

/// Whether podman is installed.
bool have_podman();

/// A field of /proc/PID/smaps_rollup ("Rss", "Pss", "Anonymous") in KiB; -1 if the process is
/// gone.
long smaps_kib(pid_t pid, const std::string& field);

}  // namespace berth::bench
