// berthd: the daemon's settings and its root supervisor.
//
// The root is a one_for_one supervisor over the children of docs/architecture.md, started in
// this order: store (SQLite), images (image supervisor), nets (net supervisor, unless
// --bridge=none), vms (vm supervisor), rpc (listener).
// Each is permanent with a restart limit; when one restarts too often the root gives up and
// berthd exits non-zero with a log line saying which.
#pragma once

#include "berth/vm/vm_actor.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace berth {

/// berthd's version string.
inline constexpr const char* berthd_version = "0.1.0";

/// Everything berthd is told on its command line.
struct daemon_options {
  std::filesystem::path data_root = "/var/lib/berth";
  std::filesystem::path run_root = "/run/berth";
  std::string host = "unix:///run/berth/berthd.sock";
  std::filesystem::path kernel = "/var/cache/berth/kernel/default";
  std::filesystem::path agent;  ///< berth-init; empty: next to berthd.
  std::string accel = "auto";
  std::string qemu = "qemu-system-x86_64";
  int boot_timeout_s = 60;
  int heartbeat_timeout_s = 30;  ///< --heartbeat-timeout: a silent guest is unresponsive after it.
  bool live_restore = true;      ///< --live-restore: a clean stop leaves containers running.
  bool jail = true;              ///< --jail: QEMU runs jailed (jail.hpp in vm-actor).
  uint32_t jail_uid_base = 2'000'000'000u;  ///< --jail-uid-base: jail uid = base + QEMU's pid.
  bool debug = false;
  bool fault_injection = false;  ///< --fault-injection: serve debug.crash (chaos tests).
  std::vector<std::string> insecure_registries;  ///< --insecure-registry, repeatable.
  std::filesystem::path registry_certs = "/etc/berth/certs.d";  ///< Docker's certs.d layout.
  std::size_t max_concurrent_downloads = 3;
  std::string default_subnet = "10.89.0.0/16";  ///< --default-subnet: the `default` network's.
  bool bridge_none = false;      ///< --bridge=none: no bridge networks, no net supervisor.
  std::vector<std::string> dns;  ///< --dns: upstream resolvers (repeatable).
  std::string group;  ///< --group: who besides root may connect (empty: `berth` if it exists).
  std::size_t max_connections = 256;  ///< --max-connections: clients served at once.
};

/// Spawns the root supervisor with berthd's children.
caf::actor spawn_root(caf::actor_system& sys, const daemon_options& opts,
                      std::shared_ptr<const vm::vm_environment> env);

}  // namespace berth
