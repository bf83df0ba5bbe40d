// process: starting processes from a multi-threaded program (argv only, never a shell; only
// async-signal-safe calls between fork and exec), running short tools to completion, and
// waiting for and probing processes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace berth::os {

/// How to start a process.
struct spawn_options {
  int stdin_fd = -1;          ///< -1: /dev/null.
  int stdout_fd = -1;         ///< -1: /dev/null.
  int stderr_fd = -1;         ///< -1: /dev/null.
  std::vector<int> keep_fds;  ///< Inherited with the same numbers; every other fd is closed.
  bool new_session = false;   ///< setsid(), so the process outlives us and our signals.
  /// CLONE_NEW* flags: the child starts in new namespaces of these kinds (a new PID namespace
  /// makes it that namespace's init; spawn still returns its pid as this process sees it).
  unsigned long namespaces = 0;
  /// Runs in the parent once the child exists and before it goes on (with the child's pid):
  /// for work that is not async-signal-safe (cgroups). Throwing kills the child.
  std::function<void(pid_t)> after_clone;
  /// Runs first in the child (only async-signal-safe calls): returns 0, or an errno value and
  /// sets `*step` to say what failed; the parent then throws with describe_step(step).
  int (*child_setup)(void* arg, int* step) = nullptr;
  void* child_arg = nullptr;
  std::function<std::string(int step)> describe_step;
  /// The environment of the program; nullptr: this process's own.
  char* const* envp = nullptr;
};

/// Starts argv[0] and returns its pid. A name without a '/' is found with program_path (fixed
/// directories, never PATH). Throws std::system_error when the program is not installed or
/// cannot be executed (the child reports errno back).
pid_t spawn(const std::vector<std::string>& argv, const spawn_options& opts = {});

/// Result of a process that ran to its end.
struct run_result {
  int exit_code = -1;  ///< Exit status, or 128 + signal.
  std::string output;  ///< What it wrote to stdout, at most the capture limit.
  std::string errors;  ///< What it wrote to stderr, at most the capture limit.
};

/// Runs argv to completion, capturing stdout and stderr (each up to `max_capture` bytes), with
/// an optional time limit after which it is killed. For short helper tools (mkfs, depmod, xz).
run_result run(const std::vector<std::string>& argv,
               std::optional<std::chrono::milliseconds> timeout = std::nullopt,
               std::size_t max_capture = 1u << 20, int stdin_fd = -1, int stdout_fd = -1);

/// Waits for a child; returns its exit code or 128 + signal.
int wait_exit(pid_t pid);

/// Whether `pid` names a live process (not a zombie).
bool process_alive(pid_t pid);

}  // namespace berth::os
