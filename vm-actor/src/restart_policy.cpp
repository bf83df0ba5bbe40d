// restart_policy.cpp: parsing --restart and deciding whether an exited container restarts.
#include "berth/vm/vm_actor.hpp"

#include <algorithm>

namespace berth::vm {

caf::expected<restart_policy_spec> parse_restart_policy(const std::string& text) {
  restart_policy_spec p;
  if (text.empty() || text == "no") return p;
  if (text == "always" || text == "unless-stopped") {
    p.name = text;
    return p;
  }
  if (text.rfind("on-failure", 0) == 0) {
    p.name = "on-failure";
    auto rest = text.substr(10);
    if (rest.empty()) return p;
    if (rest[0] == ':' && rest.size() > 1 && rest.find_first_not_of("0123456789", 1) == std::string::npos &&
        rest.size() < 10) {
      p.max_retries = static_cast<uint32_t>(std::stoul(rest.substr(1)));
      return p;
    }
  }
  return make_error(errc::invalid_argument, "invalid restart policy \"" + text +
                                                "\": use no, always, unless-stopped or on-failure[:N]");
}

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
  return std::clamp<std::chrono::milliseconds>(timeout / 3, std::chrono::seconds(1), std::chrono::seconds(10));
}

}  // namespace berth::vm
