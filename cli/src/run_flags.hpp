// run_flags: the flags of `berth run` and `berth create`, read the way Docker's CLI reads them
// into the container's spec (api::container_spec) plus what only the client acts on (-d,
// --pull, --platform). Bad values are errors here, before the daemon is asked anything.
#pragma once

#include "args.hpp"

#include "berth/rpc/api.hpp"

#include <string>
#include <vector>

namespace berth::cli {

/// What run or create were asked: the container, and what the client does around it.
struct run_options {
  api::container_spec spec;      ///< The container to create.
  bool detach = false;           ///< -d: start it and print its id instead of streaming.
  std::string pull = "missing";  ///< --pull: missing, always or never.
  std::string platform;          ///< --platform of an image pulled for it.
};

/// The flags of run (`with_detach`: -d too) and create, for parsing and for help.
std::vector<flag> run_flags(bool with_detach);

/// The options the flags and positionals (IMAGE [COMMAND] [ARG...]) of `p` ask for. -e KEY
/// without a value takes KEY from this process's environment, as Docker does. Throws cli_error
/// (exit code 125) naming the flag and value for a malformed or out-of-range value.
run_options run_options_from(const parsed& p);

/// One -p value, [IP:][HOST:]CONTAINER[/PROTO] with ports or equal-length ranges: a mapping per
/// port. Throws cli_error (125).
std::vector<api::port_mapping> parse_publish_flag(const std::string& text);

/// One -v value, SRC:DST[:ro|rw]: a named volume, or a host directory when SRC is absolute.
/// Throws cli_error (125).
api::mount parse_volume_flag(const std::string& text);

/// One --mount value: type=volume|bind|tmpfs,source=..,target=..[,readonly][,tmpfs-size=..]
/// [,tmpfs-mode=..]. Throws cli_error (125).
api::mount parse_mount_flag(const std::string& text);

/// One --tmpfs value, PATH[:OPTIONS].
api::mount parse_tmpfs_flag(const std::string& text);

}  // namespace berth::cli
