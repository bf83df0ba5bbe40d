// exec.cpp: PATH lookup, exec error classes, and fork/exec with a failure report pipe.
#include "exec.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
  exec
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

void close_pair(int fds[2]) {
  if (fds[0] >= 0) ::close(fds[0]);
  if (fds[1] >= 0) ::close(fds[1]);
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
  std::vector<gid_t> groups;
  gid_t gid = 0;
  uid_t uid = 0;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<const char*> paths;
};

// Whether an exec error means "not at this path", so that the PATH search moves on.
bool not_there(int err) {
  return err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT;
}

// The forked child: from here on no allocation and only async-signal-safe calls.
[[noreturn]] void child_main(const prepared& p, int null_fd, int out_fd, int err_fd,
                             int report_fd) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) child_fail(report_fd, step::session, errno);
  if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
    child_fail(report_fd, step::stdio, errno);
  // Whatever descriptor the agent (or a test harness) left inheritable stays behind.
  ::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
  ::umask(022);

  if (std::strcmp(p.root, "/") != 0 && ::chroot(p.root) != 0)
    child_fail(report_fd, step::chroot, errno);
  if (::chdir("/") != 0) child_fail(report_fd, step::chroot, errno);
  if (int err = make_dirs(p.cwd); err != 0) child_fail(report_fd, step::mkdir, err);
  if (::chdir(p.cwd) != 0) child_fail(report_fd, step::chdir, errno);

  if (::setgroups(p.groups.size(), p.groups.data()) != 0)
    child_fail(report_fd, step::groups, errno);
  if (::setgid(p.gid) != 0) child_fail(report_fd, step::setgid, errno);
  if (::setuid(p.uid) != 0) child_fail(report_fd, step::setuid, errno);

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
  child_fail(report_fd, step::exec, err);
}

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

  int out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  auto fail = [&](const char* what) -> rpc::call_error {
    int e = errno;
    close_pair(out);
    close_pair(err);
    close_pair(report);
    return {errc::internal, std::string(what) + ": " + describe_errno(e)};
  };
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(report, O_CLOEXEC) != 0)
    throw fail("pipe");
  for (int* fd : {&out[0], &out[1], &err[0], &err[1], &report[0], &report[1]}) {
    *fd = above_stdio(*fd);
    if (*fd < 0) throw fail("fcntl");
  }
  int null_fd = above_stdio(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd < 0) throw fail("open /dev/null");

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    throw fail("fork");
  }
  if (pid == 0) child_main(p, null_fd, out[1], err[1], report[1]);

  ::close(null_fd);
  ::close(out[1]);
  ::close(err[1]);
  ::close(report[1]);
  out[1] = err[1] = report[1] = -1;

  child_report r;
  ssize_t n;
  do {
    n = ::read(report[0], &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  report[0] = -1;
  if (n == 0) {
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    ::fcntl(err[0], F_SETFL, O_NONBLOCK);
    return {pid, out[0], err[0]};
  }

  // The child failed before or at exec and exits with 127; reap it here.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(out[0]);
  ::close(err[0]);
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

}  // namespace berth::agent
