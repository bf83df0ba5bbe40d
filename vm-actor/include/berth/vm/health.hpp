// health: Docker's health check rules, apart from the actor that runs the checks.
//
// A container's check is the image's HEALTHCHECK with the --health-* flags over it field by
// field; it runs in the guest every interval while the container runs (vm_actor.cpp). What a
// result does to the container's health is decided here: a success makes it healthy, a failure
// counts unless it came within the start period while still starting, and `retries` failures in
// a row make it unhealthy. Pure functions, unit-tested.
#pragma once

#include "berth/rpc/api.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::vm {

/// Health states, as Docker names them.
namespace health {
inline constexpr const char* starting = "starting";
inline constexpr const char* healthy = "healthy";
inline constexpr const char* unhealthy = "unhealthy";
}  // namespace health

/// Results kept in a container's health log (Docker's maxLogEntries).
inline constexpr std::size_t health_log_entries = 5;

/// Bytes of a check's output kept (the last ones).
inline constexpr std::size_t health_output_bytes = 4096;

/// A check's timing with the defaults applied (30 s, 30 s, none, 3).
struct health_timing {
  std::chrono::nanoseconds interval{std::chrono::seconds(30)};
  std::chrono::nanoseconds timeout{std::chrono::seconds(30)};
  std::chrono::nanoseconds start_period{0};
  int32_t retries = 3;
};

/// The check a container gets: each field of `flags` that is set, else the image's (Docker's
/// merge of Config.Healthcheck with the image's).
api::healthcheck merge_healthcheck(const api::healthcheck& image, const api::healthcheck& flags);

/// Why a client's health check is refused (invalid_argument), or no error: negative values,
/// durations under 1 ms, a test that is not NONE, CMD or CMD-SHELL with a command.
caf::error check_healthcheck(const api::healthcheck& h);

/// The argv a check runs in the guest: /bin/sh -c for CMD-SHELL, the arguments for CMD; empty
/// when no check runs (no test, NONE, an unknown type or no command).
std::vector<std::string> health_command(const api::healthcheck& h);

/// The timing of `h`, zero fields replaced by the defaults.
health_timing timing_of(const api::healthcheck& h);

/// Appends a check's output to `out`, keeping its last health_output_bytes.
void append_health_output(std::string& out, const char* data, std::size_t size);

/// Records a finished check in `state` (log, failing streak, status) for a container that
/// started at `started_ns` (unix ns); returns whether the status changed.
bool apply_health_result(api::health_state& state, api::health_result result,
                         const health_timing& timing, int64_t started_ns);

/// A duration as Go prints it in Docker's messages: "30s", "1.5s", "250ms".
std::string go_duration(std::chrono::nanoseconds d);

}  // namespace berth::vm
