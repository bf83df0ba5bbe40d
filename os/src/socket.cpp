// socket.cpp: unix stream sockets for listeners and clients.
#include "berth/os/socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::os {

namespace fs = std::filesystem;

sockaddr_un unix_address(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto& s = path.native();
  if (s.empty() || s.size() >= sizeof addr.sun_path)
    throw sys_error(ENAMETOOLONG, "socket path " + s);
  std::memcpy(addr.sun_path, s.data(), s.size());
  return addr;
}

namespace {

unique_fd stream_socket(bool nonblocking) {
  unique_fd fd(
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0));
  if (!fd) throw sys_error(errno, "socket");
  return fd;
}

}  // namespace

unique_fd listen_unix(const fs::path& path, mode_t mode, int backlog, bool nonblocking) {
  auto addr = unix_address(path);
  auto fd = stream_socket(nonblocking);
  // Linux gives the socket file the mode of the socket's inode less the umask: narrowing the
  // inode first means the file is never wider than `mode`, without touching the process-wide
  // umask (which other threads share). The chmod after bind then sets exactly `mode`.
  if (::fchmod(fd.get(), mode) != 0) throw sys_error(errno, "fchmod socket " + path.string());
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw sys_error(errno, "bind " + path.string());
  if (::chmod(path.c_str(), mode) != 0) throw sys_error(errno, "chmod " + path.string());
  if (::listen(fd.get(), backlog) != 0) throw sys_error(errno, "listen " + path.string());
  return fd;
}

unique_fd connect_unix(const fs::path& path, bool nonblocking) {
  auto addr = unix_address(path);
  auto fd = stream_socket(false);
  int rc;
  do rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) throw sys_error(errno, "connect " + path.string());
  if (nonblocking) ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace berth::os
