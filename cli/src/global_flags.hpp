// global_flags: the flags before the command (-H/--host, -v/--version, -h/--help) and which
// daemon berth talks to: -H, else $BERTH_HOST when it is set and not empty, else berthd's
// default socket.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace berth::cli {

/// Where berthd listens unless -H or BERTH_HOST says otherwise.
inline constexpr const char* default_host = "unix:///run/berth/berthd.sock";

/// What the global flags ask for.
struct global_options {
  /// What to do.
  enum class action {
    run,      ///< Run the command at `command`.
    version,  ///< Print the version.
    help,     ///< Print the usage on stdout.
    usage,    ///< No command: print the usage on stderr and fail.
    error,    ///< A bad flag: print `error` and fail.
  };
  action what = action::run;
  std::string host;         ///< The daemon to talk to.
  std::size_t command = 0;  ///< Index in the arguments of the command's name.
  std::string error;        ///< The message of action::error.
};

/// Reads the global flags at the start of `args` (the arguments after the program's name).
/// `env_host` is $BERTH_HOST (nullptr when unset; empty counts as unset).
global_options parse_global_flags(const std::vector<std::string>& args, const char* env_host);

}  // namespace berth::cli
