// format: how the CLI shows and reads sizes, durations and times, the way Docker users expect
// ("Up 5 seconds", "Exited (0) 3 minutes ago", "4.2MB", --memory 512m).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::cli {

/// "5 seconds", "About a minute", "3 hours", as Docker's units.HumanDuration.
std::string human_duration(int64_t seconds);

/// Sizes in decimal units as Docker prints them: "4.2MB", "917kB", "12B".
std::string human_size(uint64_t bytes);

/// Parses "512m", "1g", "1.5G", "1024k", "2048": bytes; throws std::invalid_argument.
int64_t parse_memory(const std::string& text);

/// Parses a duration as Go's time.ParseDuration (Docker's --health-interval and the like):
/// "30s", "1m30s", "1.5h", "250ms", "-2s", "0"; nanoseconds. Throws std::invalid_argument.
int64_t parse_duration(const std::string& text);

/// The status column of `ps` for a container in `state` at unix time `now` (ns); a running
/// container with a health check gets Docker's suffix: "Up 2 minutes (healthy)",
/// "(unhealthy)", "(health: starting)".
std::string status_text(const std::string& state, int32_t exit_code, int64_t started,
                        int64_t finished, int64_t now, const std::string& health = {});

/// RFC 3339 with nanoseconds, UTC: "2026-11-27T10:45:39.123456789Z".
std::string rfc3339(int64_t unix_ns);

/// argv joined as `ps` shows a command: quoted and truncated to `width` characters.
std::string command_text(const std::vector<std::string>& args, std::size_t width);

}  // namespace berth::cli
