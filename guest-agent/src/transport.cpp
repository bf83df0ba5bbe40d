// transport.cpp: the two ways to reach berthd, a port and a listener.
//
// A virtio-serial port is one descriptor for the life of the VM; while no host has the other end
// of the QEMU chardev open, poll() reports POLLHUP (with POLLIN too) and read() returns 0, so a
// host is "there" exactly when POLLHUP is absent. A vsock listener hands out one descriptor per
// host connection instead.
#include "log.hpp"

#include "berth/agent/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::agent {

namespace {

class port_transport final : public transport {
 public:
  port_transport(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
  }
  ~port_transport() override { ::close(fd_); }

  const std::string& name() const override { return name_; }
  int listen_fd() const override { return -1; }

  int connect() override {
    pollfd p{fd_, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 0) < 0) return -1;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return -1;
    return fd_;
  }

  void disconnect(int) override {}

 private:
  int fd_;
  std::string name_;
};

class listener_transport final : public transport {
 public:
  listener_transport(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
  }
  ~listener_transport() override { ::close(fd_); }

  const std::string& name() const override { return name_; }
  int listen_fd() const override { return fd_; }

  int connect() override {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
        errno != ECONNABORTED)
      log("accept on the %s listener failed: %s", name_.c_str(), std::strerror(errno));
    return fd;
  }

  void disconnect(int fd) override { ::close(fd); }

 private:
  int fd_;
  std::string name_;
};

}  // namespace

std::unique_ptr<transport> make_port_transport(int fd, std::string name) {
  return std::make_unique<port_transport>(fd, std::move(name));
}

std::unique_ptr<transport> make_listener_transport(int fd, std::string name) {
  return std::make_unique<listener_transport>(fd, std::move(name));
}

}  // namespace berth::agent
