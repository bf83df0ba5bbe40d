// erofs: building an image's read-only disk from its unpacked root filesystem.
//
// Runs Debian's mkfs.erofs (erofs-utils 1.5: no --tar) with an argv, never a shell, into a
// temporary file next to the output, then fsyncs and renames it into place, so a disk at the
// output path is always complete.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::image {

/// How to run mkfs.erofs.
struct erofs_options {
  std::string mkfs = "mkfs.erofs";      ///< Program, looked up in PATH unless it has a '/'.
  std::vector<std::string> extra_args;  ///< Added before the output and source arguments.
};

/// Builds an erofs image of `rootfs` at `output` and returns its size in bytes. not_found or
/// invalid_argument for a bad `rootfs`, unsupported if mkfs.erofs is missing, io if the output
/// cannot be written or mkfs.erofs fails (its output is in the message); nothing is left at
/// `output` or beside it after a failure.
caf::expected<uint64_t> build_erofs(const std::filesystem::path& rootfs,
                                    const std::filesystem::path& output,
                                    const erofs_options& options = {});

}  // namespace berth::image
