// restart_policy.cpp: whether and when an exited container restarts under its policy (parsed by
// api::parse_restart_policy), and how often a running one is pinged.
#include "berth/vm/vm_actor.hpp"

#include <algorithm>

namespace berth::vm {

bool restart_wanted(const restart_policy_spec& policy, int32_t exit_code, uint32_t restarts,
                    bool stopped_by_user) {
  if (stopped_by_user) return false;
  if (policy.name == "always" || policy.name == "unless-stopped") return true;
  if (policy.name == "on-failure")
    return exit_code != 0 && (policy.max_retries == 0 || restarts < policy.max_retries);
  return false;
}

std::chrono::milliseconds restart_delay(uint32_t n) {
  std::chrono::milliseconds d{100};
  for (uint32_t i = 1; i < n && d < std::chrono::minutes(1); ++i) d *= 2;
  return std::min<std::chrono::milliseconds>(d, std::chrono::minutes(1));
}

std::chrono::milliseconds heartbeat_interval(std::chrono::milliseconds timeout) {
  return std::clamp<std::chrono::milliseconds>(timeout / 3, std::chrono::seconds(1),
                                               std::chrono::seconds(10));
}

}  // namespace berth::vm
