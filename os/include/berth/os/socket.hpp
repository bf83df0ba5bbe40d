// socket: unix stream sockets, written once for every listener and client berth has (berthd's
// RPC socket, the CLI, QEMU's QMP and agent sockets).
#pragma once

#include "berth/os/fd.hpp"

#include <sys/types.h>
#include <sys/un.h>

#include <filesystem>

namespace berth::os {

/// The address of a unix socket at `path`. Throws std::system_error (ENAMETOOLONG) when the path
/// does not fit in sun_path.
sockaddr_un unix_address(const std::filesystem::path& path);

/// Binds a listening stream socket at `path` (a stale socket there is replaced) whose file never
/// has more permissions than `mode`, not even between bind and chmod, whatever the umask.
/// The socket is close-on-exec; `nonblocking` sets O_NONBLOCK. Throws std::system_error.
unique_fd listen_unix(const std::filesystem::path& path, mode_t mode, int backlog = 64,
                      bool nonblocking = false);

/// Connects a stream socket to `path`; close-on-exec, O_NONBLOCK when `nonblocking`. Throws
/// std::system_error (ECONNREFUSED, ENOENT: nobody listens there).
unique_fd connect_unix(const std::filesystem::path& path, bool nonblocking = false);

}  // namespace berth::os
