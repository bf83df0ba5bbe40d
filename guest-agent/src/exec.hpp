// exec: starting a process in the container root, and execvp's PATH lookup done by hand.
//
// The child is forked from the agent and may only make async-signal-safe calls, so everything it
// needs (argv, envp, the paths to try, the groups) is prepared before fork. It reports a failure
// (which step, which errno) through a close-on-exec pipe; end of file on that pipe means the exec
// succeeded. PATH comes from the process's own environment, never from the agent's.
//
// Namespaces: the agent's thread switches the PID namespace its children are born in just around
// fork (unshare(CLONE_NEWPID) for a new one, setns for a joined one) and switches back at once, so
// the child is PID 1 of a new namespace or a member of the joined one while the agent stays where
// it is. The mount namespace is unshared or entered by the child itself.
#pragma once

#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

/// PATH used when a process's environment has none (Docker's default).
constexpr std::string_view default_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The value of `key` in "KEY=VALUE" entries, or nullptr when absent (the first entry wins).
const std::string* find_env(const std::vector<std::string>& env, std::string_view key);

/// The paths to try for `arg0`: itself if it contains '/', else each PATH directory of `env`
/// joined with it (an empty directory means ".").
std::vector<std::string> exec_candidates(std::string_view arg0,
                                         const std::vector<std::string>& env);

/// The error `start` answers when exec of `arg0` failed with `err`; `searched` when `arg0` was
/// looked up in PATH.
rpc::call_error exec_failure(std::string_view arg0, bool searched, int err);

/// Signals the tiny init of a process_spec with `init` forwards to its command.
constexpr int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/// Everything needed to start one process.
struct spawn_request {
  std::string root;               ///< Directory to chroot into ("/" for none).
  std::string cwd = "/";          ///< Absolute, inside root; created if missing.
  identity who;                   ///< uid, gid and groups.
  std::vector<std::string> args;  ///< argv; args[0] is looked up as exec_candidates says.
  std::vector<std::string> env;   ///< The complete environment.

  /// Own PID and mount namespaces: the process is PID 1 of the new PID namespace, and a proc
  /// of that namespace is mounted on <root>/proc in the new mount namespace.
  bool new_namespace = false;
  /// With new_namespace: PID 1 is a tiny init (a fork of the agent that does not exec) that runs
  /// the command as its child, reaps every process of the namespace, forwards forwarded_signals
  /// to the command and exits with its status (128 + signal when a signal killed it).
  bool init = false;
  /// Descriptors of /proc/<pid>/ns/pid and /proc/<pid>/ns/mnt of a process whose namespaces the
  /// new one enters (`join`); -1 for none. Not owned.
  int join_pid_ns = -1;
  int join_mnt_ns = -1;

  /// Run on a new pty: stdin, stdout and stderr are its slave, which is the controlling terminal.
  /// The pty comes from <root>/dev/pts/ptmx when that exists (the container's own devpts
  /// instance, so the slave's name is right inside the container), else from /dev/ptmx.
  bool terminal = false;
  uint16_t rows = 24;  ///< Initial window size of the pty.
  uint16_t cols = 80;
  /// stdin is a pipe the agent writes (without a terminal); else /dev/null (or the pty).
  bool open_stdin = false;
};

/// A started process and the agent's ends of its stdio (non-blocking, close-on-exec).
struct spawned {
  pid_t pid = -1;   ///< As the agent sees it (in the agent's PID namespace).
  int out_fd = -1;  ///< stdout's pipe; with a terminal the pty master (stdout and stderr).
  int err_fd = -1;  ///< stderr's pipe; -1 with a terminal.
  int in_fd = -1;   ///< stdin's pipe (open_stdin without terminal), else -1.
  int tty_fd = -1;  ///< With a terminal: another descriptor of the master, for input and resize.
};

/// Forks and execs `req`. Throws rpc::call_error when the child failed before or at exec (it is
/// reaped then): exec_not_found, exec_denied, invalid_argument for a bad cwd, internal otherwise.
spawned spawn(const spawn_request& req);

/// Sets the window size of the pty whose master is `fd`; the kernel sends SIGWINCH to its
/// foreground process group. Returns 0 or an errno.
int set_window_size(int fd, uint16_t rows, uint16_t cols);

/// The VEOF character of the pty whose master is `fd` (^D unless the process changed it).
char eof_char(int fd);

}  // namespace berth::agent
