// api/health: health checks: how a container is checked (image config or --health-* flags) and its
// state.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::api {

/// A health check, as Docker's HealthConfig: the image config's Healthcheck, the --health-*
/// flags, or both merged field by field (a zero field takes the image's, then the default).
struct healthcheck {
  std::vector<std::string>
      test;                  ///< ["CMD-SHELL", cmd] (run as /bin/sh -c cmd), ["CMD", arg...],
                             ///< ["NONE"] (no check, not even the image's); empty: the image's.
  int64_t interval = 0;      ///< ns between the end of a check and the next; 0: 30 s.
  int64_t timeout = 0;       ///< ns a check may run before it is killed and failed; 0: 30 s.
  int64_t start_period = 0;  ///< ns after start in which failures do not count; 0: none.
  int32_t retries = 0;       ///< Failures in a row that make it unhealthy; 0: 3.
  BERTH_FIELDS(healthcheck, test, interval, timeout, start_period, retries);
};

/// One run of a health check, as Docker's State.Health.Log shows it.
struct health_result {
  int64_t start = 0;      ///< Unix ns.
  int64_t end = 0;        ///< Unix ns.
  int32_t exit_code = 0;  ///< 0: healthy; -1: it could not run or timed out.
  std::string output;     ///< The last 4 KiB of its stdout and stderr.
  BERTH_FIELDS(health_result, start, end, exit_code, output);
};

/// A running container's health (runtime state: it starts again from "starting" at each start).
struct health_state {
  std::string status;          ///< "starting", "healthy", "unhealthy"; empty: no check runs.
  int32_t failing_streak = 0;  ///< Failures in a row (those within the start period not counted).
  std::vector<health_result> log;  ///< The last 5 results, oldest first.
  BERTH_FIELDS(health_state, status, failing_streak, log);
};

}  // namespace berth::api
