// os: the few POSIX pieces every component needs, written once: owned file descriptors,
// durable file writes (temporary name, fsync, rename, fsync of the directory), and starting
// processes from a multi-threaded daemon (argv only, never a shell; only async-signal-safe calls
// between fork and exec). CAF-free.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::os {

/// Owns one file descriptor and closes it.
class unique_fd {
 public:
  unique_fd() = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, still owned.
  int get() const { return fd_; }
  /// Gives up ownership.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  /// Closes the current descriptor and owns `fd`.
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// An error from a system call, with what was being done: "open /x: No such file or directory".
std::system_error sys_error(int err, std::string_view what);

/// Writes `data` to `path` durably: a temporary file in the same directory, fsync, rename, fsync
/// of the directory. A crash leaves the old file or the new one, never a mix. Throws
/// std::system_error.
void write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode = 0644);

/// fsyncs a directory, so a rename or create in it is durable. Throws std::system_error.
void fsync_dir(const std::filesystem::path& dir);

/// Reads a whole file of at most `max_bytes`; throws std::system_error (EFBIG when larger).
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes = 16u << 20);

/// The wall clock as Unix time in nanoseconds (what records and logs store).
int64_t unix_time_ns();

/// A random lowercase hex string of `bytes` random bytes (from getrandom).
std::string random_hex(std::size_t bytes);

/// How to start a process.
struct spawn_options {
  int stdin_fd = -1;   ///< -1: /dev/null.
  int stdout_fd = -1;  ///< -1: /dev/null.
  int stderr_fd = -1;  ///< -1: /dev/null.
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
