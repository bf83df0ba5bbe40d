// exec.cpp: PATH lookup, exec error classes, and fork/exec with a failure report pipe; PID and
// mount namespaces, the tiny init, and ptys.
#include "exec.hpp"

#include "berth/os/fd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::agent {

namespace {

// The step of the child that failed, sent with its errno through the report pipe.
enum class step : int32_t {
  stdio = 1,
  session,
  chroot,
  mkdir,
  chdir,
  groups,
  setgid,
  setuid,
  exec,
  join,      // enter the joined process's mount namespace
  mount_ns,  // a private mount namespace for the new PID namespace
  proc,      // mount the new namespace's proc
  init,      // fork the command from the tiny init
  terminal,  // make the pty the controlling terminal
};

struct child_report {
  int32_t failed = 0;
  int32_t err = 0;
};

std::string describe_errno(int err) {
  std::string text = std::strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z'))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw rpc::call_error(errc::internal, what + ": " + describe_errno(errno));
}

const char* step_name(step s) {
  switch (s) {
    case step::stdio:
      return "set up stdio";
    case step::session:
      return "setsid";
    case step::chroot:
      return "chroot";
    case step::mkdir:
      return "create working directory";
    case step::chdir:
      return "chdir";
    case step::groups:
      return "setgroups";
    case step::setgid:
      return "setgid";
    case step::setuid:
      return "setuid";
    case step::exec:
      return "exec";
    case step::join:
      return "enter the mount namespace";
    case step::mount_ns:
      return "make a mount namespace";
    case step::proc:
      return "mount proc";
    case step::init:
      return "fork from init";
    case step::terminal:
      return "set the controlling terminal";
  }
  return "start";
}

// Moves `fd` to a number above 2, so dup2 onto 0..2 in the child never clobbers a source.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

// Writes the failed step and errno, then exits; only async-signal-safe calls.
[[noreturn]] void child_fail(int report_fd, step s, int err) {
  child_report r{static_cast<int32_t>(s), err};
  [[maybe_unused]] auto n = ::write(report_fd, &r, sizeof r);
  ::_exit(127);
}

// mkdir -p of an absolute path held in a writable buffer; only async-signal-safe calls.
int make_dirs(char* path) {
  for (char* p = path + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = ::mkdir(path, 0755);
    int err = errno;
    *p = '/';
    if (rc != 0 && err != EEXIST) return err;
  }
  if (::mkdir(path, 0755) != 0 && errno != EEXIST) return errno;
  return 0;
}

struct prepared {
  const char* root = nullptr;
  char* cwd = nullptr;
  const char* proc_dir = nullptr;  // <root>/proc, for a new PID namespace
  bool new_namespace = false;
  bool init = false;
  int join_mnt_ns = -1;
  std::vector<gid_t> groups;
  gid_t gid = 0;
  uid_t uid = 0;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<const char*> paths;
};

// The child's ends: stdin, stdout and stderr (all -1 with a terminal), the pty slave, the report.
struct child_fds {
  int in = -1;
  int out = -1;
  int err = -1;
  int tty = -1;
  int report = -1;
};

// Whether an exec error means "not at this path", so that the PATH search moves on.
bool not_there(int err) {
  return err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT;
}

// The tiny init, PID 1 of a new PID namespace: forks the command and returns in it; in the init
// it never returns. It holds no descriptor (the report pipe's end of file then tells the agent
// the command exec'd), reaps whatever the namespace leaves it, forwards forwarded_signals to the
// command and exits with the command's status; the kernel then kills the rest of the namespace.
void run_init(const child_fds& f) {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  for (int sig : forwarded_signals) ::sigaddset(&set, sig);
  // Blocked before the fork, so no signal falls between it and sigwaitinfo; the command unblocks
  // everything before exec.
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  ::setsid();
  pid_t command = ::fork();
  if (command < 0) child_fail(f.report, step::init, errno);
  if (command == 0) return;
  ::syscall(SYS_close_range, 0u, ~0u, 0u);
  for (;;) {
    siginfo_t info;
    int sig = ::sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(command, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid != command) continue;
      ::_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
    }
  }
}

// The command's own setup (session, stdio, root, cwd, credentials), then exec.
[[noreturn]] void run_command(const prepared& p, const child_fds& f) {
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) child_fail(f.report, step::session, errno);
  if (f.tty >= 0) {
    if (::ioctl(f.tty, TIOCSCTTY, 0) != 0) child_fail(f.report, step::terminal, errno);
    // The user owns its terminal, as with a login (runc and Docker do the same).
    [[maybe_unused]] int rc = ::fchown(f.tty, p.uid, p.gid);
    if (::dup2(f.tty, 0) < 0 || ::dup2(f.tty, 1) < 0 || ::dup2(f.tty, 2) < 0)
      child_fail(f.report, step::stdio, errno);
  } else if (::dup2(f.in, 0) < 0 || ::dup2(f.out, 1) < 0 || ::dup2(f.err, 2) < 0) {
    child_fail(f.report, step::stdio, errno);
  }
  // Whatever descriptor the agent (or a test harness) left inheritable stays behind.
  ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
  ::umask(022);

  if (std::strcmp(p.root, "/") != 0 && ::chroot(p.root) != 0)
    child_fail(f.report, step::chroot, errno);
  if (::chdir("/") != 0) child_fail(f.report, step::chroot, errno);
  if (int err = make_dirs(p.cwd); err != 0) child_fail(f.report, step::mkdir, err);
  if (::chdir(p.cwd) != 0) child_fail(f.report, step::chdir, errno);

  if (::setgroups(p.groups.size(), p.groups.data()) != 0) child_fail(f.report, step::groups, errno);
  if (::setgid(p.gid) != 0) child_fail(f.report, step::setgid, errno);
  if (::setuid(p.uid) != 0) child_fail(f.report, step::setuid, errno);

  // execvp's search: a path that is not there or not a directory moves on, a denied one is
  // remembered, anything else ends the search.
  bool denied = false;
  int err = ENOENT;
  for (const char* path : p.paths) {
    ::execve(path, p.argv.data(), p.envp.data());
    err = errno;
    if (err == EACCES) denied = true;
    if (err != EACCES && !not_there(err)) break;
  }
  if (denied && not_there(err)) err = EACCES;
  child_fail(f.report, step::exec, err);
}

// The forked child: from here on no allocation and only async-signal-safe calls.
[[noreturn]] void child_main(const prepared& p, const child_fds& f) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);

  if (p.join_mnt_ns >= 0 && ::setns(p.join_mnt_ns, CLONE_NEWNS) != 0)
    child_fail(f.report, step::join, errno);
  if (p.new_namespace) {
    // A mount namespace of its own, so the namespace's proc is seen by its processes only; slave,
    // so that nothing mounted here propagates back to the agent (or, in host mode, the host).
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
      child_fail(f.report, step::mount_ns, errno);
    ::mkdir(p.proc_dir, 0555);
    if (::mount("proc", p.proc_dir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
      child_fail(f.report, step::proc, errno);
    if (p.init) run_init(f);
  }
  run_command(p, f);
}

// A pty from `ptmx`: the master (non-blocking) and its slave, both close-on-exec.
void open_pty(const std::string& ptmx, uint16_t rows, uint16_t cols, os::unique_fd& master,
              os::unique_fd& slave) {
  master.reset(::open(ptmx.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK));
  if (!master) throw_errno("open " + ptmx);
  int unlock = 0;
  if (::ioctl(master.get(), TIOCSPTLCK, &unlock) != 0) throw_errno("unlockpt");
  if (int err = set_window_size(master.get(), rows, cols); err != 0) {
    errno = err;
    throw_errno("set the window size");
  }
  slave.reset(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) throw_errno("open the pty's slave");
}

std::string pick_ptmx(const spawn_request& req) {
  std::string own = (req.root == "/" ? std::string() : req.root) + "/dev/pts/ptmx";
  struct stat st {};
  if (::stat(own.c_str(), &st) == 0 && S_ISCHR(st.st_mode)) return own;
  return "/dev/ptmx";
}

// Switches the PID namespace the calling thread's children are born in, for one fork.
class pid_namespace_switch {
 public:
  explicit pid_namespace_switch(const spawn_request& req) {
    if (!req.new_namespace && req.join_pid_ns < 0) return;
    own_.reset(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
    if (!own_) throw_errno("open /proc/self/ns/pid");
    int rc = req.new_namespace ? ::unshare(CLONE_NEWPID) : ::setns(req.join_pid_ns, CLONE_NEWPID);
    if (rc != 0) {
      own_.reset();
      throw_errno(req.new_namespace ? "unshare(CLONE_NEWPID)" : "enter the PID namespace");
    }
  }
  pid_namespace_switch(const pid_namespace_switch&) = delete;
  pid_namespace_switch& operator=(const pid_namespace_switch&) = delete;

  // Back to the agent's own namespace; false (errno set) if that failed.
  bool restore() {
    if (!own_) return true;
    int rc = ::setns(own_.get(), CLONE_NEWPID);
    own_.reset();
    return rc == 0;
  }

  ~pid_namespace_switch() { restore(); }

 private:
  os::unique_fd own_;
};

}  // namespace

const std::string* find_env(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env)
    if (e.size() > key.size() && e[key.size()] == '=' && std::string_view(e).starts_with(key))
      return &e;
  return nullptr;
}

std::vector<std::string> exec_candidates(std::string_view arg0,
                                         const std::vector<std::string>& env) {
  if (arg0.find('/') != std::string_view::npos) return {std::string(arg0)};
  std::string_view path = default_path;
  if (const auto* entry = find_env(env, "PATH")) path = std::string_view(*entry).substr(5);
  std::vector<std::string> out;
  for (;;) {
    auto colon = path.find(':');
    auto dir = path.substr(0, colon);
    if (dir.empty()) dir = ".";
    std::string candidate(dir);
    if (candidate.back() != '/') candidate += '/';
    candidate += arg0;
    out.push_back(std::move(candidate));
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

rpc::call_error exec_failure(std::string_view arg0, bool searched, int err) {
  std::string quoted = "exec: \"" + std::string(arg0) + "\": ";
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      if (searched) return {errc::exec_not_found, quoted + "executable file not found in $PATH"};
      return {errc::exec_not_found, quoted + describe_errno(ENOENT)};
    case EACCES:
    case EPERM:
    case EISDIR:
      return {errc::exec_denied, quoted + describe_errno(EACCES)};
    case ENOEXEC:
      return {errc::exec_denied, quoted + describe_errno(ENOEXEC)};
    case E2BIG:
      return {errc::invalid_argument, quoted + describe_errno(E2BIG)};
    default:
      return {errc::internal, quoted + describe_errno(err)};
  }
}

spawned spawn(const spawn_request& req) {
  if (req.args.empty()) throw rpc::call_error(errc::invalid_argument, "args is empty");

  prepared p;
  p.root = req.root.c_str();
  std::string cwd = req.cwd.empty() ? std::string("/") : req.cwd;
  p.cwd = cwd.data();
  std::string proc_dir = (req.root == "/" ? std::string() : req.root) + "/proc";
  p.proc_dir = proc_dir.c_str();
  p.new_namespace = req.new_namespace;
  p.init = req.new_namespace && req.init;
  p.join_mnt_ns = req.join_mnt_ns;
  for (auto g : req.who.groups) p.groups.push_back(static_cast<gid_t>(g));
  p.gid = static_cast<gid_t>(req.who.gid);
  p.uid = static_cast<uid_t>(req.who.uid);
  for (const auto& a : req.args) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  for (const auto& e : req.env) p.envp.push_back(const_cast<char*>(e.c_str()));
  p.envp.push_back(nullptr);
  auto candidates = exec_candidates(req.args[0], req.env);
  for (const auto& c : candidates) p.paths.push_back(c.c_str());
  bool searched = req.args[0].find('/') == std::string::npos;

  // Every descriptor the child gets is above 2, so dup2 onto 0..2 never clobbers a source.
  auto pipe_pair = [](os::unique_fd& r, os::unique_fd& w) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe");
    r.reset(fds[0]);
    w.reset(fds[1]);
    for (auto* fd : {&r, &w}) {
      fd->reset(above_stdio(fd->release()));
      if (!*fd) throw_errno("fcntl");
    }
  };
  os::unique_fd in_r, in_w, out_r, out_w, err_r, err_w, report_r, report_w, master, slave;
  if (req.terminal) {
    open_pty(pick_ptmx(req), req.rows, req.cols, master, slave);
    slave.reset(above_stdio(slave.release()));
    if (!slave) throw_errno("fcntl");
  } else {
    pipe_pair(out_r, out_w);
    pipe_pair(err_r, err_w);
    if (req.open_stdin) {
      pipe_pair(in_r, in_w);
    } else {
      in_r.reset(above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
      if (!in_r) throw_errno("open /dev/null");
    }
  }
  pipe_pair(report_r, report_w);

  child_fds f{in_r.get(), out_w.get(), err_w.get(), slave.get(), report_w.get()};
  pid_t pid;
  {
    pid_namespace_switch ns(req);
    pid = ::fork();
    int fork_err = errno;
    if (pid == 0) child_main(p, f);
    if (!ns.restore()) {
      // The agent's next children would be born in the wrong namespace: a broken invariant.
      int err = errno;
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      errno = err;
      throw_errno("return to the agent's PID namespace");
    }
    if (pid < 0) {
      errno = fork_err;
      // A namespace whose PID 1 has exited takes no new members (fork fails with ENOMEM).
      if (req.join_pid_ns >= 0 && fork_err == ENOMEM)
        throw rpc::call_error(errc::not_found, "the process to join has exited");
      throw_errno("fork");
    }
  }

  in_r.reset();
  out_w.reset();
  err_w.reset();
  slave.reset();
  report_w.reset();

  child_report r;
  ssize_t n;
  do {
    n = ::read(report_r.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  report_r.reset();
  if (n == 0) {
    spawned out;
    out.pid = pid;
    if (req.terminal) {
      out.tty_fd = ::fcntl(master.get(), F_DUPFD_CLOEXEC, 3);
      if (out.tty_fd < 0) {
        // Without it the process could not be resized or written; it has started, so it stays
        // with its output only.
        out.tty_fd = -1;
      }
      out.out_fd = master.release();
    } else {
      ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
      ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
      out.out_fd = out_r.release();
      out.err_fd = err_r.release();
      if (in_w) {
        ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
        out.in_fd = in_w.release();
      }
    }
    return out;
  }

  // The child failed before or at exec and exits with 127; reap it here.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof r))
    throw rpc::call_error(errc::internal, "start: lost the child's report");
  auto s = static_cast<step>(r.failed);
  switch (s) {
    case step::exec:
      throw exec_failure(req.args[0], searched, r.err);
    case step::mkdir:
    case step::chdir:
      throw rpc::call_error(errc::invalid_argument,
                            std::string(step_name(s)) + " " + cwd + ": " + describe_errno(r.err));
    default:
      throw rpc::call_error(errc::internal,
                            std::string(step_name(s)) + ": " + describe_errno(r.err));
  }
}

int set_window_size(int fd, uint16_t rows, uint16_t cols) {
  winsize ws{};
  ws.ws_row = rows;
  ws.ws_col = cols;
  return ::ioctl(fd, TIOCSWINSZ, &ws) == 0 ? 0 : errno;
}

char eof_char(int fd) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0 || t.c_cc[VEOF] == _POSIX_VDISABLE) return 4;  // ^D
  return static_cast<char>(t.c_cc[VEOF]);
}

}  // namespace berth::agent
