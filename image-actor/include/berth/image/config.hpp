// config: the image config, the part of an image that says how to run it.
//
// Parses OCI and Docker image configs. Docker treats `"Cmd": null` as no Cmd at all, so absent
// and null read the same; an empty array is kept apart (`cmd_set` with an empty `cmd`) so the
// caller can apply Docker's rules. Like Docker, a plain string is accepted for Entrypoint and Cmd.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// Largest image config accepted.
inline constexpr uint64_t max_config_bytes = 4 << 20;

/// config.Healthcheck as the image says it. A field of the wrong type or out of range is left
/// at zero (the default) rather than failing the image: the config comes from anybody.
struct image_healthcheck {
  std::vector<std::string> test;  ///< ["CMD-SHELL", cmd], ["CMD", arg...], ["NONE"]; empty: none.
  int64_t interval = 0;           ///< ns; 0: the default.
  int64_t timeout = 0;            ///< ns; 0: the default.
  int64_t start_period = 0;       ///< ns; 0: none.
  int32_t retries = 0;            ///< 0: the default.
};

/// What an image config says.
struct image_config {
  std::string os;                             ///< "linux".
  std::string architecture;                   ///< "amd64".
  std::string variant;                        ///< "v8", usually empty.
  int64_t created = 0;                        ///< Unix time (s); 0 if absent.
  std::vector<std::string> entrypoint;        ///< config.Entrypoint.
  bool entrypoint_set = false;                ///< Whether Entrypoint was present and not null.
  std::vector<std::string> cmd;               ///< config.Cmd.
  bool cmd_set = false;                       ///< Whether Cmd was present and not null.
  std::vector<std::string> env;               ///< config.Env, "KEY=VALUE".
  std::string working_dir;                    ///< config.WorkingDir.
  std::string user;                           ///< config.User ("uid", "name:group", ...).
  std::string stop_signal;                    ///< config.StopSignal ("SIGTERM", "15").
  std::vector<std::string> exposed_ports;     ///< Keys of config.ExposedPorts ("80/tcp").
  std::vector<std::string> volumes;           ///< Keys of config.Volumes ("/data").
  std::map<std::string, std::string> labels;  ///< config.Labels.
  image_healthcheck healthcheck;              ///< config.Healthcheck (Dockerfile HEALTHCHECK).
  std::vector<std::string> diff_ids;  ///< rootfs.diff_ids: digests of the uncompressed layers.
};

/// Parses an image config; invalid_argument naming the field for anything malformed.
caf::expected<image_config> parse_image_config(std::string_view json);

/// Parses an RFC 3339 time ("2024-01-01T00:00:00Z", "...T01:00:00.5+01:00") into Unix seconds.
caf::expected<int64_t> parse_rfc3339(std::string_view text);

}  // namespace berth::image
