// fd: an owned file descriptor, and system-call errors that say what was being done.
//
// Part of berth::os, the CAF-free POSIX layer that berthd, the berth CLI and the static guest
// agent all link.
#pragma once

#include <string_view>
#include <system_error>
#include <utility>

namespace berth::os {

/// Owns one file descriptor and closes it.
class unique_fd {
 public:
  unique_fd() = default;
  /// Takes ownership of `fd` (-1 for none).
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, still owned.
  int get() const { return fd_; }
  /// Gives up ownership.
  int release() { return std::exchange(fd_, -1); }
  /// Closes the current descriptor and owns `fd`.
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// An error from a system call, with what was being done: "open /x: No such file or directory".
std::system_error sys_error(int err, std::string_view what);

/// Writes all of `data` to `fd`, retrying short writes and EINTR. Throws std::system_error
/// naming `what`.
void write_all(int fd, std::string_view data, std::string_view what);

}  // namespace berth::os
