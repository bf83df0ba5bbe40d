// fd: the agent's owning file descriptor.
//
// The host side has its own in actors/os.hpp; the static agent does not link the actor libraries,
// so it keeps this small copy: close on destruction, move-only, release() to hand the number on.
#pragma once

#include <unistd.h>

#include <utility>

namespace berth::agent {

/// A file descriptor that is closed when its owner goes away.
class unique_fd {
 public:
  /// Owns `fd` (-1: nothing).
  explicit unique_fd(int fd = -1) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  /// The descriptor, or -1.
  int get() const { return fd_; }

  /// Whether a descriptor is held.
  explicit operator bool() const { return fd_ >= 0; }

  /// Gives the descriptor up without closing it.
  int release() { return std::exchange(fd_, -1); }

  /// Closes the held descriptor and owns `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

}  // namespace berth::agent
