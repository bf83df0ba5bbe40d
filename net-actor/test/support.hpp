// support: small socket helpers for the net-actor tests (loopback and private namespaces only).
#pragma once

#include "addr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace berth::net::test {

/// Owns a socket.
struct sock {
  int fd = -1;
  sock() = default;
  explicit sock(int f) : fd(f) {}
  sock(sock&& o) noexcept : fd(o.fd) { o.fd = -1; }
  sock& operator=(sock&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  sock(const sock&) = delete;
  sock& operator=(const sock&) = delete;
  ~sock() {
    if (fd >= 0) ::close(fd);
  }
};

inline sockaddr_in address(const std::string& ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  return sa;
}

/// A socket of `type` bound to ip:port (0: any free port); fd -1 when bind fails.
inline sock bound(int type, const std::string& ip, uint16_t port, bool reuse = false) {
  sock s(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (reuse) {
    int one = 1;
    ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  auto sa = address(ip, port);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return sock{};
  if (type == SOCK_STREAM) ::listen(s.fd, 64);
  return s;
}

/// The local port of a bound socket.
inline uint16_t port_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

/// A port of `ip` free for both UDP and TCP at the time of asking.
inline uint16_t free_port(const std::string& ip) {
  for (int i = 0; i < 100; ++i) {
    auto u = bound(SOCK_DGRAM, ip, 0);
    if (u.fd < 0) continue;
    auto p = port_of(u.fd);
    auto t = bound(SOCK_STREAM, ip, p);
    if (t.fd >= 0) return p;
  }
  return 0;
}

/// Waits up to `ms` for `fd` to be readable.
inline bool readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

/// A TCP connection to ip:port, with a receive timeout of `timeout_ms`; fd -1 when refused.
inline sock connect_tcp(const std::string& ip, uint16_t port, int timeout_ms = 5000) {
  sock s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto sa = address(ip, port);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return sock{};
  return s;
}

/// Sends all of `data`.
inline bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads until `want` bytes came, EOF or the socket's timeout.
inline std::string recv_n(int fd, std::size_t want) {
  std::string out;
  char buf[65536];
  while (out.size() < want) {
    auto n = ::recv(fd, buf, std::min(sizeof buf, want - out.size()), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// Runs `fn` in a forked child inside a fresh network namespace of its own; returns what it
/// reported as wrong ("" when all was well), or why it could not run.
inline std::string in_private_netns(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    std::string problems;
    if (::unshare(CLONE_NEWNET) != 0)
      problems = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    else
      try {
        problems = fn();
      } catch (const std::exception& e) {
        problems = std::string("exception: ") + e.what();
      }
    std::size_t done = 0;
    while (done < problems.size()) {
      auto n = ::write(fds[1], problems.data() + done, problems.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(problems.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string problems;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
    problems.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (problems.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    problems = "the child failed with status " + std::to_string(status);
  return problems;
}

}  // namespace berth::net::test
