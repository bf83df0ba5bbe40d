// disk: the sparse ext4 disks berth gives containers (their writable layer) and named volumes.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace berth::vm {

/// Makes `disk`: a sparse file of `size` bytes with an empty ext4 file system labelled `label`
/// (mkfs.ext4 punches holes as it goes, so a 10 GiB disk costs a few MB). It is built under a
/// temporary name, fsynced and renamed, so `disk` either does not exist or is whole. Errors
/// (a full data root above all) say what failed in one line, and leave nothing behind.
caf::expected<void> make_ext4_disk(const std::filesystem::path& disk, std::uint64_t size,
                                   const std::string& label);

}  // namespace berth::vm
