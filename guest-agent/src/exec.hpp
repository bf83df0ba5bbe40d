// exec: starting a process in the container root, and execvp's PATH lookup done by hand.
//
// The child is forked from the agent and may only make async-signal-safe calls, so everything it
// needs (argv, envp, the paths to try, the groups) is prepared before fork. It reports a failure
// (which step, which errno) through a close-on-exec pipe; end of file on that pipe means the exec
// succeeded. PATH comes from the process's own environment, never from the agent's.
#pragma once

#include "users.hpp"

#include "berth/rpc/codec.hpp"

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

/// Everything needed to start one process.
struct spawn_request {
  std::string root;               ///< Directory to chroot into ("/" for none).
  std::string cwd = "/";          ///< Absolute, inside root; created if missing.
  identity who;                   ///< uid, gid and groups.
  std::vector<std::string> args;  ///< argv; args[0] is looked up as exec_candidates says.
  std::vector<std::string> env;   ///< The complete environment.
};

/// A started process and the read ends of its stdout and stderr (non-blocking, close-on-exec).
struct spawned {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};

/// Forks and execs `req`. Throws rpc::call_error when the child failed before or at exec (it is
/// reaped then): exec_not_found, exec_denied, invalid_argument for a bad cwd, internal otherwise.
spawned spawn(const spawn_request& req);

}  // namespace berth::agent
