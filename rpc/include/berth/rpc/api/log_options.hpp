// api/log_options: how a container's output log is kept, as `--log-opt` asks for it
// (container_spec.log_opts: max-size, max-file, Docker's spelling and units) and as berthd stores
// and shows it (container_info.log_config). Read in one place for the CLI, which refuses a bad
// --log-opt before asking, and for berthd, which refuses it at create and rotates by it.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/fields.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace berth::api {

/// Bytes a log file holds before it rotates, unless --log-opt max-size says otherwise (20m).
inline constexpr uint64_t default_log_max_size = 20'000'000;
/// Log files kept, the one being written included, unless --log-opt max-file says otherwise.
inline constexpr uint32_t default_log_max_file = 2;
/// The smallest max-size: a file always has room for a useful record (1k).
inline constexpr uint64_t min_log_max_size = 1000;
/// The largest max-size (1t).
inline constexpr uint64_t max_log_max_size = 1'000'000'000'000;
/// The most files max-file may ask for.
inline constexpr uint32_t max_log_max_file = 100;

/// A container's log rotation: its files together hold at most max_size * max_file bytes.
struct log_config {
  uint64_t max_size = 0;  ///< Bytes of a file before it rotates; 0 (records of older berthd):
                          ///< default_log_max_size.
  uint32_t max_file = 0;  ///< Files kept, the current one included; 0: default_log_max_file.
  BERTH_FIELDS(log_config, max_size, max_file);
};

/// `config` with its zero fields replaced by the defaults.
log_config effective_log_config(log_config config);

/// Reads --log-opt values: "max-size" (a positive number with an optional unit k, m or g, decimal
/// as Docker's json-file reads them: 10m is 10000000 bytes; a trailing b is allowed) and
/// "max-file" (1 to 100); a missing option takes its default. nullopt for an unknown option or a
/// bad value, with the reason in `why`.
std::optional<log_config> parse_log_options(const std::map<std::string, std::string>& opts,
                                            std::string& why);

/// Bytes the way max-size spells them: the largest unit that divides them exactly ("20m",
/// "1500", "64k").
std::string format_log_size(uint64_t bytes);

}  // namespace berth::api
