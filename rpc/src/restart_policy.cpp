// restart_policy.cpp: reading a --restart value.
#include "berth/rpc/api/restart_policy.hpp"

namespace berth::api {

std::optional<restart_policy_spec> parse_restart_policy(const std::string& text) {
  restart_policy_spec p;
  if (text.empty() || text == "no") return p;
  if (text == "always" || text == "unless-stopped") {
    p.name = text;
    return p;
  }
  if (text.rfind("on-failure", 0) != 0) return std::nullopt;
  p.name = "on-failure";
  auto rest = text.substr(10);
  if (rest.empty()) return p;
  if (rest[0] != ':' || rest.size() < 2 || rest.size() > 9 ||
      rest.find_first_not_of("0123456789", 1) != std::string::npos)
    return std::nullopt;
  p.max_retries = static_cast<uint32_t>(std::stoul(rest.substr(1)));
  return p;
}

std::string invalid_restart_policy(const std::string& text) {
  return "invalid restart policy \"" + text +
         "\": use no, always, unless-stopped or on-failure[:N]";
}

}  // namespace berth::api
