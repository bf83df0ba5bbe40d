// api/restart_policy: a container's restart policy as the wire spells it ("no", "always",
// "unless-stopped", "on-failure[:N]": container_spec.restart, container_info.restart), read in
// one place for the CLI, which refuses a bad --restart before asking, and for berthd, which
// refuses it at create and applies it when a container exits.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace berth::api {

/// A restart policy, parsed.
struct restart_policy_spec {
  std::string name = "no";   ///< no, always, unless-stopped or on-failure.
  uint32_t max_retries = 0;  ///< N of on-failure:N; 0: no limit.
};

/// Parses "no" (or ""), "always", "unless-stopped", "on-failure" or "on-failure:N" (N at most
/// 8 digits); nullopt for anything else.
std::optional<restart_policy_spec> parse_restart_policy(const std::string& text);

/// Why `text` is not a restart policy, as the CLI and berthd both say it.
std::string invalid_restart_policy(const std::string& text);

}  // namespace berth::api
