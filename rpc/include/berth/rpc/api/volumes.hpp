// api/volumes: volume.* payloads.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::api {

/// Argument of volume.create.
struct volume_create_request {
  std::string name;  ///< Empty: a random name.
  int64_t size = 0;  ///< Bytes; 0: the default (10 GiB, sparse).
  BERTH_FIELDS(volume_create_request, name, size);
};

/// Names a volume.
struct volume_ref {
  std::string name;
  BERTH_FIELDS(volume_ref, name);
};

/// Argument of volume.remove.
struct volume_remove_request {
  std::string name;
  bool force = false;
  BERTH_FIELDS(volume_remove_request, name, force);
};

/// A named volume.
struct volume_info {
  std::string name;
  std::string driver = "ext4-disk";
  std::string mountpoint;               ///< Its disk image on the host.
  int64_t size = 0;                     ///< Capacity in bytes.
  int64_t used = 0;                     ///< Bytes the disk image takes on the host.
  int64_t created = 0;                  ///< Unix ns.
  std::vector<std::string> containers;  ///< Containers that mount it.
  BERTH_FIELDS(volume_info, name, driver, mountpoint, size, used, created, containers);
};

}  // namespace berth::api
