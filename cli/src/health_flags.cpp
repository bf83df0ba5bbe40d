// health_flags.cpp: reading the health flags (Docker's cli/command/container/opts.go rules).
#include "health_flags.hpp"

#include "format.hpp"

#include <climits>
#include <stdexcept>

namespace berth::cli {

std::vector<flag> health_flags() {
  return {
      {"health-cmd", 0, true, "CMD", "Command to run to check health, as /bin/sh -c CMD"},
      {"health-interval", 0, true, "DURATION",
       "Time between the end of a check and the next (ms|s|m|h) (default 30s)"},
      {"health-timeout", 0, true, "DURATION",
       "Time one check may run before it is killed and failed (ms|s|m|h) (default 30s)"},
      {"health-retries", 0, true, "N",
       "Consecutive failures needed to report unhealthy (default 3)"},
      {"health-start-period", 0, true, "DURATION",
       "Time for the container to start before failures count (ms|s|m|h) (default 0s)"},
      {"no-healthcheck", 0, false, "", "Disable any HEALTHCHECK of the image"},
  };
}

namespace {

int64_t duration_flag(const parsed& p, const std::string& name) {
  if (!p.has(name)) return 0;
  int64_t ns;
  try {
    ns = parse_duration(p.get(name));
  } catch (const std::exception& e) {
    throw usage_error("invalid argument \"" + p.get(name) + "\" for \"--" + name +
                      "\" flag: " + e.what() + " (use a unit: 500ms, 30s, 1m30s, 2h)");
  }
  if (ns < 0) throw usage_error("--" + name + " cannot be negative");
  return ns;
}

int32_t retries_flag(const parsed& p) {
  if (!p.has("health-retries")) return 0;
  auto text = p.get("health-retries");
  std::size_t digits_at = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
  long long v = 0;
  bool ok = text.size() > digits_at &&
            text.find_first_not_of("0123456789", digits_at) == std::string::npos &&
            text.size() - digits_at <= 10;
  if (ok) {
    v = std::stoll(text);
    ok = v >= INT_MIN && v <= INT_MAX;
  }
  if (!ok)
    throw usage_error("invalid argument \"" + text +
                      "\" for \"--health-retries\" flag: not a number");
  if (v < 0) throw usage_error("--health-retries cannot be negative");
  return static_cast<int32_t>(v);
}

}  // namespace

api::healthcheck healthcheck_from(const parsed& p) {
  api::healthcheck h;
  auto cmd = p.get("health-cmd");
  h.interval = duration_flag(p, "health-interval");
  h.timeout = duration_flag(p, "health-timeout");
  h.start_period = duration_flag(p, "health-start-period");
  h.retries = retries_flag(p);
  bool any =
      !cmd.empty() || h.interval != 0 || h.timeout != 0 || h.start_period != 0 || h.retries != 0;
  if (p.has("no-healthcheck")) {
    if (any) throw usage_error("--no-healthcheck conflicts with --health-* options");
    h.test = {"NONE"};
    return h;
  }
  if (!cmd.empty()) h.test = {"CMD-SHELL", cmd};
  return h;
}

}  // namespace berth::cli
