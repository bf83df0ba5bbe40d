// api/system: system.* and debug.* payloads.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>

namespace berth::api {

/// Result of system.info.
struct system_info {
  std::string version;  ///< berthd's version.
  uint32_t protocol = protocol_version;
  std::string accelerator;       ///< "kvm" or "tcg".
  std::string accelerator_note;  ///< Why this accelerator was chosen.
  std::string kernel;            ///< Path of the guest kernel.
  std::string kernel_version;    ///< Its release string.
  std::string agent_transport;   ///< "vsock" or "virtio-serial".
  std::string data_root;         ///< Where berthd keeps its state.
  std::string qemu;              ///< QEMU binary and version.
  uint32_t containers = 0;
  uint32_t containers_running = 0;
  uint32_t images = 0;
  BERTH_FIELDS(system_info, version, protocol, accelerator, accelerator_note, kernel,
               kernel_version, agent_transport, data_root, qemu, containers, containers_running,
               images);
};

/// Argument of debug.crash: the actor to crash, "store", "images", "nets" or "vms" (a
/// supervisor, with everything under it), or the name or id of a container (its vm actor).
struct crash_request {
  std::string target;
  BERTH_FIELDS(crash_request, target);
};

}  // namespace berth::api
