// unpack: applying layers to a root filesystem directory, with OCI whiteouts and with every
// layer entry treated as hostile.
//
// Layers are decompressed (gzip, zstd or none) and written with libarchive's archive_write_disk:
// ownership (numeric ids, never the host's user database), modes, mtimes, xattrs, hard links,
// symlinks and device nodes are kept. `.wh.NAME` deletes NAME from lower layers and
// `.wh..wh..opq` empties its directory of everything lower layers put there, wherever the marker
// sits among the layer's entries. No entry may write, delete or link outside the root: names
// with ".." components, symlinks in a parent path, hard links out of the root or through a
// symlink, and overlong paths fail the whole unpack with invalid_argument naming the entry.
// Absolute names are taken relative to the root, as Docker does.
#pragma once

#include "berth/image/content_store.hpp"
#include "berth/image/descriptor.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// What applying layers did.
struct unpack_stats {
  uint64_t entries = 0;    ///< Layer entries read (whiteouts included).
  uint64_t bytes = 0;      ///< Uncompressed tar bytes read.
  uint64_t whiteouts = 0;  ///< Whiteout and opaque markers applied.
};

/// Applies the layer blob at `blob` (of media type `type`) onto the tree at `rootfs`; if
/// `diff_id` is not empty the uncompressed stream must hash to it.
caf::expected<unpack_stats> apply_layer(const std::filesystem::path& blob, std::string_view type,
                                        const std::filesystem::path& rootfs,
                                        std::string_view diff_id = {});

/// Applies `layers` from `store` in order into the empty directory `rootfs`, checking each
/// against `diff_ids` when given (one per layer). The root directory becomes 0755 root:root
/// unless a layer says otherwise.
caf::expected<unpack_stats> unpack_layers(const content_store& store,
                                          const std::vector<descriptor>& layers,
                                          const std::filesystem::path& rootfs,
                                          const std::vector<std::string>& diff_ids = {});

}  // namespace berth::image
