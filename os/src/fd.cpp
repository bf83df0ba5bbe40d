// fd.cpp: the owned descriptor and error helpers.
#include "berth/os/fd.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace berth::os {

void unique_fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::system_error sys_error(int err, std::string_view what) {
  return std::system_error(err, std::generic_category(), std::string(what));
}

void write_all(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace berth::os
