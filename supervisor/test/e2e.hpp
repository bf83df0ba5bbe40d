// e2e: a real berthd for end-to-end tests, driven through the berth CLI as a user would.
//
// One daemon per test process, started on first use with its own data root, run root and socket
// under a fresh temporary directory, with the busybox fixture image loaded. Each test boots real
// VMs under whatever accelerator the host offers (TCG here). At exit the daemon gets SIGTERM,
// and the harness checks that it stopped cleanly and left no QEMU, socket or temporary file.
// The daemon runs with --live-restore=false (so that stop ends every container) unless the
// suite's extra arguments name --live-restore.
#pragma once

#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace berth::e2e {

namespace fs = std::filesystem;

/// What a CLI call printed and how it exited.
struct result {
  int code = -1;
  std::string out;
  std::string err;
};

/// The daemon of this test process.
class daemon {
 public:
  /// The daemon, started (with the busybox image loaded) on first use.
  static daemon& get();

  /// More berthd options for this test process's daemon; call before the first get().
  static void set_extra_args(std::vector<std::string> args);

  /// Runs this test process's berthd in the test's own network namespace, with `--bridge=none`
  /// and `--jail=false` (so it makes no bridge, tap or nft table there), for suites that need the
  /// host's loopback: a registry on 127.0.0.1. Call before the first get().
  static void use_host_network();

  /// Puts this test process's data root on a tmpfs of `bytes`, so that a test can fill it. The
  /// process first moves into a mount namespace of its own (berthd and its QEMUs inherit it), so
  /// the mount goes away with them even if the test is killed. Call before the first get(), while
  /// the process has one thread.
  static void set_data_size(std::uint64_t bytes);

  /// Runs `berth -H <this daemon> args...`.
  result berth(const std::vector<std::string>& args,
               std::chrono::seconds timeout = std::chrono::seconds(180)) const;

  /// Runs `berth args...` and requires exit code 0; returns stdout.
  std::string ok(const std::vector<std::string>& args) const;

  /// Where it listens ("unix://...").
  const std::string& host() const { return host_; }

  /// The temporary directory everything of this daemon lives in.
  const fs::path& root() const { return root_; }
  fs::path data_root() const { return root_ / "data"; }
  fs::path run_root() const { return root_ / "run"; }
  /// Where the fixture images were built.
  fs::path images() const { return root_ / "images"; }
  /// The daemon's own log, for failure messages.
  std::string log() const;

  /// Stops berthd cleanly (SIGTERM) and starts it again on the same data.
  void restart();

  /// Kills berthd with SIGKILL and starts it again on the same data.
  void crash_and_restart();

  /// Ends berthd with `sig` (SIGKILL: a crash, SIGTERM: a clean stop) and waits for it; start()
  /// brings it back on the same data, so a test can act while no berthd runs.
  void kill_berthd(int sig);
  void start();

  /// Stops berthd cleanly (SIGTERM) for good; its exit status (0: clean). Its network
  /// namespace stays until the test process ends, for checks of what it left there.
  int stop();

  /// Waits at most `limit` for berthd to end by itself; its exit status (128 + signal for a
  /// signal), or -1 if it still runs. start() brings it back.
  int wait_exit(std::chrono::milliseconds limit);

  /// Crashes an actor of berthd's tree through debug.crash (berthd needs --fault-injection in
  /// the suite's extra arguments): "store", "images", "nets", "vms" or a container. Empty when
  /// berthd took it, else its error message.
  std::string crash_actor(const std::string& target) const;

  /// The host pid of a running container's QEMU (from inspect).
  pid_t qemu_pid(const std::string& container) const;

  /// The pid of the process holding berthd's network namespace (it outlives berthd restarts).
  /// Run host-side probes there: `nsenter --net=/proc/<pid>/ns/net ...` (see netns()).
  pid_t netns_holder() const { return holder_; }
  /// `cmd` run inside berthd's network namespace (nsenter --net=...).
  result in_netns(const std::vector<std::string>& cmd,
                  std::chrono::seconds timeout = std::chrono::seconds(60)) const;

  ~daemon();

 private:
  daemon();
  void start_berthd();
  void stop_berthd(int sig);
  fs::path root_;
  std::string host_;
  pid_t pid_ = -1;
  pid_t holder_ = -1;  ///< A process in berthd's network namespace (`unshare -n`), holding it.
};

/// Host paths of the built binaries and the source tree.
fs::path bin_dir();
fs::path source_dir();

/// The processes whose program name starts with `program` and whose command line mentions
/// `needle`; processes that end while they are looked at are left out.
std::vector<pid_t> processes(const std::string& program, const std::string& needle);

/// The QEMU processes whose command line mentions `needle`.
std::vector<pid_t> qemu_processes(const std::string& needle);

/// Resident memory of a process in KiB (0 if it is gone).
long rss_kib(pid_t pid);

/// A `berth` command on a pseudo terminal, as a person at a terminal runs it.
class pty_session {
 public:
  /// Starts `berth -H <host> args...` on a new pty of `rows` x `cols`.
  pty_session(const daemon& d, const std::vector<std::string>& args, uint16_t rows = 24,
              uint16_t cols = 80);
  ~pty_session();
  /// Types `text`.
  void type(const std::string& text);
  /// Reads until `token` appears in the output since the last expect, at most `limit`; returns
  /// whether it did. Everything read is in `output()`.
  bool expect(const std::string& token, std::chrono::milliseconds limit = std::chrono::seconds(60));
  /// Changes the terminal size (the kernel sends the CLI SIGWINCH).
  void resize(uint16_t rows, uint16_t cols);
  /// Waits for the CLI to exit; its exit code.
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(60));
  const std::string& output() const { return out_; }
  /// The pty's master side, to read the terminal's settings (tcgetattr) after the CLI ended.
  int master_fd() const { return fd_; }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  std::string out_;
  std::size_t seen_ = 0;
};

/// Waits until `pred` holds, checking every 50 ms, at most `limit`; returns whether it held.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace berth::e2e
