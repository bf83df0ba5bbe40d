// process: starting processes from a multi-threaded program (argv only, never a shell; only
// async-signal-safe calls between fork and exec), running short tools to completion, and
// waiting for and probing processes.
#pragma once

#include <sys/types.h>

#include <chrono>
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
};

/// Starts argv[0] (looked up in PATH when it has no '/') and returns its pid. Throws
/// std::system_error when the program cannot be executed (the child reports errno back).
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
