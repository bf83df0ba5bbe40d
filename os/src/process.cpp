// process.cpp: fork/exec with only async-signal-safe calls between them, run-to-completion
// with captured output and a time limit, waiting and liveness probes.
#include "berth/os/process.hpp"

#include "berth/os/fd.hpp"
#include "berth/os/program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

namespace berth::os {

pid_t spawn(const std::vector<std::string>& argv, const spawn_options& opts) {
  if (argv.empty()) throw sys_error(EINVAL, "spawn: empty argv");
  // Never a PATH search: a bare name is a host program at a fixed path (program.hpp).
  const std::string& program = program_path(argv[0]);
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  unique_fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) throw sys_error(errno, "open /dev/null");
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw sys_error(errno, "pipe");
  unique_fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  // The fds that survive exec besides 0-2, sorted, so the child can close the gaps between them.
  std::vector<int> keep(opts.keep_fds);
  keep.push_back(err_pipe[1]);
  std::sort(keep.begin(), keep.end());
  int fds[3] = {opts.stdin_fd >= 0 ? opts.stdin_fd : devnull.get(),
                opts.stdout_fd >= 0 ? opts.stdout_fd : devnull.get(),
                opts.stderr_fd >= 0 ? opts.stderr_fd : devnull.get()};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  // With namespaces, clone as fork does (no new stack: the child runs on a copy of ours).
  pid_t pid = opts.namespaces == 0
                  ? ::fork()
                  : static_cast<pid_t>(::syscall(SYS_clone, opts.namespaces | SIGCHLD, nullptr,
                                                 nullptr, nullptr, nullptr));
  if (pid == 0) {
    if (opts.child_setup) {
      int step = 0;
      if (int e = opts.child_setup(opts.child_arg, &step); e != 0) {
        int report[2] = {e, step};
        [[maybe_unused]] auto n = ::write(err_write.get(), report, sizeof report);
        ::_exit(127);
      }
    }
    // Move the three standard fds out of the way of each other first, then install them.
    int moved[3];
    for (int i = 0; i < 3; ++i) moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + 64);
    for (int i = 0; i < 3; ++i) ::dup2(moved[i], i);
    for (int fd : opts.keep_fds) {
      int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0) ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    // Close everything else except the error pipe (close-on-exec) and the kept fds.
    unsigned lo = 3;
    for (int k : keep) {
      if (static_cast<unsigned>(k) > lo) ::close_range(lo, static_cast<unsigned>(k) - 1, 0);
      lo = static_cast<unsigned>(k) + 1;
    }
    ::close_range(lo, ~0u, 0);
    if (opts.new_session) ::setsid();
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (opts.envp)
      ::execve(program.c_str(), args.data(), opts.envp);
    else
      ::execv(program.c_str(), args.data());
    int report[2] = {errno, 0};
    [[maybe_unused]] auto n = ::write(err_write.get(), report, sizeof report);
    ::_exit(127);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw sys_error(fork_errno, opts.namespaces ? "clone" : "fork");
  err_write.reset();
  if (opts.after_clone) {
    try {
      opts.after_clone(pid);
    } catch (...) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw;
    }
  }
  int report[2] = {0, 0};
  ssize_t n;
  do n = ::read(err_read.get(), report, sizeof report);
  while (n < 0 && errno == EINTR);
  if (n == sizeof report) {
    ::waitpid(pid, nullptr, 0);
    if (report[1] != 0 && opts.describe_step)
      throw sys_error(report[0], opts.describe_step(report[1]));
    throw sys_error(report[0], "exec " + argv[0]);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

run_result run(const std::vector<std::string>& argv,
               std::optional<std::chrono::milliseconds> timeout, std::size_t max_capture,
               int stdin_fd, int stdout_fd) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw sys_error(errno, "pipe");
  unique_fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw sys_error(errno, "pipe");
  unique_fd err_r(err_pipe[0]), err_w(err_pipe[1]);
  spawn_options opts;
  opts.stdin_fd = stdin_fd;
  opts.stdout_fd = stdout_fd >= 0 ? stdout_fd : out_w.get();
  opts.stderr_fd = err_w.get();
  run_result result;
  pid_t pid = spawn(argv, opts);
  out_w.reset();
  err_w.reset();
  auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                          : std::chrono::steady_clock::time_point::max();
  bool killed = false;
  pollfd pfds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    int wait_ms = -1;
    if (timeout) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    int r = ::poll(pfds, 2, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto n = ::read(pfds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        pfds[i].fd = -1;
        --open_fds;
        continue;
      }
      auto& sink = i == 0 ? result.output : result.errors;
      if (sink.size() < max_capture)
        sink.append(buf,
                    std::min<std::size_t>(static_cast<std::size_t>(n), max_capture - sink.size()));
    }
  }
  result.exit_code = wait_exit(pid);
  if (killed) result.errors += "\n(killed: time limit reached)";
  return result;
}

}  // namespace berth::os
