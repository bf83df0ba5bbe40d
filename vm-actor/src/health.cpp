// health.cpp: merging, checking and applying health checks (Docker's rules).
#include "berth/vm/health.hpp"

#include "berth/actors/vocabulary.hpp"

#include <cstdio>

namespace berth::vm {

namespace {

constexpr int64_t minimum_duration_ns = 1'000'000;  // Docker's containertypes.MinimumDuration

}  // namespace

api::healthcheck merge_healthcheck(const api::healthcheck& image, const api::healthcheck& flags) {
  api::healthcheck h = flags;
  if (h.test.empty()) h.test = image.test;
  if (h.interval == 0) h.interval = image.interval;
  if (h.timeout == 0) h.timeout = image.timeout;
  if (h.start_period == 0) h.start_period = image.start_period;
  if (h.retries == 0) h.retries = image.retries;
  return h;
}

caf::error check_healthcheck(const api::healthcheck& h) {
  for (auto [value, name] : {std::pair{h.interval, "Interval"}, std::pair{h.timeout, "Timeout"},
                             std::pair{h.start_period, "StartPeriod"}}) {
    if (value < 0)
      return make_error(errc::invalid_argument,
                        std::string(name) + " in Healthcheck cannot be negative");
    if (value != 0 && value < minimum_duration_ns)
      return make_error(errc::invalid_argument,
                        std::string(name) + " in Healthcheck cannot be less than 1ms");
  }
  if (h.retries < 0)
    return make_error(errc::invalid_argument, "Retries in Healthcheck cannot be negative");
  if (h.test.empty() || h.test[0] == "NONE") return {};
  if (h.test[0] != "CMD" && h.test[0] != "CMD-SHELL")
    return make_error(errc::invalid_argument,
                      "unknown Healthcheck type '" + h.test[0] + "' (NONE, CMD or CMD-SHELL)");
  if (h.test.size() < 2 || h.test[1].empty())
    return make_error(errc::invalid_argument, "Healthcheck " + h.test[0] + " has no command");
  return {};
}

std::vector<std::string> health_command(const api::healthcheck& h) {
  if (h.test.size() < 2 || h.test[1].empty()) return {};
  if (h.test[0] == "CMD") return {h.test.begin() + 1, h.test.end()};
  if (h.test[0] != "CMD-SHELL") return {};
  // As Docker: the rest of the test after the shell (one string in practice).
  std::vector<std::string> argv{"/bin/sh", "-c"};
  argv.insert(argv.end(), h.test.begin() + 1, h.test.end());
  return argv;
}

health_timing timing_of(const api::healthcheck& h) {
  health_timing t;
  if (h.interval > 0) t.interval = std::chrono::nanoseconds(h.interval);
  if (h.timeout > 0) t.timeout = std::chrono::nanoseconds(h.timeout);
  if (h.start_period > 0) t.start_period = std::chrono::nanoseconds(h.start_period);
  if (h.retries > 0) t.retries = h.retries;
  return t;
}

void append_health_output(std::string& out, const char* data, std::size_t size) {
  if (size >= health_output_bytes) {
    out.assign(data + size - health_output_bytes, health_output_bytes);
    return;
  }
  out.append(data, size);
  if (out.size() > health_output_bytes) out.erase(0, out.size() - health_output_bytes);
}

bool apply_health_result(api::health_state& state, api::health_result result,
                         const health_timing& timing, int64_t started_ns) {
  auto before = state.status;
  if (result.exit_code == 0) {
    state.failing_streak = 0;
    state.status = health::healthy;
  } else {
    // Failures while still starting within the start period do not count (Docker's rule).
    bool grace =
        state.status == health::starting && result.start - started_ns < timing.start_period.count();
    if (!grace) {
      ++state.failing_streak;
      if (state.failing_streak >= timing.retries) state.status = health::unhealthy;
    }
  }
  state.log.push_back(std::move(result));
  if (state.log.size() > health_log_entries)
    state.log.erase(state.log.begin(),
                    state.log.end() - static_cast<std::ptrdiff_t>(health_log_entries));
  return state.status != before;
}

std::string go_duration(std::chrono::nanoseconds d) {
  auto ns = d.count();
  char buf[48];
  if (ns % 1'000'000'000 == 0)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ns / 1'000'000'000));
  else if (ns >= 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ns) / 1e9);
  else if (ns % 1'000'000 == 0)
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ns / 1'000'000));
  else
    std::snprintf(buf, sizeof buf, "%gms", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace berth::vm
