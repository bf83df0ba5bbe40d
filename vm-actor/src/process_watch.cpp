// process_watch.cpp: pidfd + eventfd poll loop.
#include "process_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace berth::vm {

process_watch::process_watch(pid_t pid, bool own_child, std::function<void(int)> on_exit) {
  cancel_fd_ = ::eventfd(0, EFD_CLOEXEC);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  thread_ = std::thread([pid, own_child, pidfd, cancel = cancel_fd_, on_exit = std::move(on_exit)] {
    int status = -1;
    if (pidfd >= 0) {
      pollfd fds[2] = {{pidfd, POLLIN, 0}, {cancel, POLLIN, 0}};
      for (;;) {
        int r = ::poll(fds, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (fds[1].revents) {
          ::close(pidfd);
          return;  // cancelled: the process may still run (it is not ours to end)
        }
        if (fds[0].revents) break;
      }
      ::close(pidfd);
    }
    // pidfd_open fails only if the process is already gone.
    if (own_child) {
      int raw = 0;
      pid_t r;
      do r = ::waitpid(pid, &raw, 0);
      while (r < 0 && errno == EINTR);
      if (r == pid)
        status = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : -1;
    }
    on_exit(status);
  });
}

process_watch::~process_watch() {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(cancel_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(cancel_fd_);
}

}  // namespace berth::vm
