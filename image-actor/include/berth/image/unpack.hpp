// unpack: applying layers to a root filesystem directory, with OCI whiteouts and with every
// layer entry treated as hostile.
//
// Layers are decompressed (gzip, zstd or none) and written with libarchive's archive_write_disk:
// ownership (numeric ids, never the host's user database), modes (setuid and setgid included),
// mtimes, hard links, symlinks and device nodes are kept, because the image's erofs disk needs
// them; xattrs are kept only from a short allow-list (user.*, security.capability and POSIX
// ACLs). Such a tree must be unreachable by other users: the root must lie under a directory
// private to berthd's uid (mode 0700, such as DATA/tmp/unpack-*), and no directory above that
// one may be replaceable by another user; anything else is refused before a byte is written.
// unpack_limits caps the bytes and entries of a layer and of an image, so that a small
// compressed layer cannot fill the disk. `.wh.NAME` deletes NAME from lower layers and
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

/// Caps on what layers may hold. Tests use small ones; the defaults are far above any sane
/// image (the largest public images hold a few hundred thousand files and a few GiB).
struct unpack_limits {
  /// Uncompressed tar bytes of one layer, and the sum of the file sizes it declares (so that
  /// sparse files cannot claim more).
  uint64_t max_layer_bytes = uint64_t{16} << 30;
  /// Entries of one layer (whiteouts included).
  uint64_t max_layer_entries = 1'000'000;
  /// The same for all the layers of an image together.
  uint64_t max_image_bytes = uint64_t{64} << 30;
  uint64_t max_image_entries = 4'000'000;
};

/// What applying layers did.
struct unpack_stats {
  uint64_t entries = 0;     ///< Layer entries read (whiteouts included).
  uint64_t bytes = 0;       ///< Uncompressed tar bytes read.
  uint64_t file_bytes = 0;  ///< Sum of the sizes regular files declare (sparse ones in full).
  uint64_t whiteouts = 0;   ///< Whiteout and opaque markers applied.
};

/// Applies the layer blob at `blob` (of media type `type`) onto the tree at `rootfs`; if
/// `diff_id` is not empty the uncompressed stream must hash to it. A layer over the per-layer
/// caps of `limits` fails with invalid_argument naming the limit.
caf::expected<unpack_stats> apply_layer(const std::filesystem::path& blob, std::string_view type,
                                        const std::filesystem::path& rootfs,
                                        std::string_view diff_id = {},
                                        const unpack_limits& limits = {});

/// Applies `layers` from `store` in order into the empty directory `rootfs`, checking each
/// against `diff_ids` when given (one per layer) and against `limits`. The root directory
/// becomes 0755 root:root unless a layer says otherwise. On failure `rootfs` is emptied again
/// and the error names the layer (its index and digest).
caf::expected<unpack_stats> unpack_layers(const content_store& store,
                                          const std::vector<descriptor>& layers,
                                          const std::filesystem::path& rootfs,
                                          const std::vector<std::string>& diff_ids = {},
                                          const unpack_limits& limits = {});

}  // namespace berth::image
