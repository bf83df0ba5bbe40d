// program: where berthd finds the host programs it runs (qemu, mkfs.erofs, mkfs.ext4, ip, nft,
// decompressors), at fixed absolute paths and never through PATH, so that whoever sets berthd's
// environment cannot swap in a program of their own.
#pragma once

#include <string>
#include <string_view>

namespace berth::os {

/// The directories searched for a program, in this order.
inline constexpr const char* program_dirs[] = {"/usr/bin", "/usr/sbin", "/bin", "/sbin"};

/// The absolute path of the host program `name`: the first of program_dirs holding an
/// executable regular file of that name. A name holding a '/' is returned as it is (an
/// administrator's explicit choice, such as berthd --qemu /opt/qemu/bin/qemu-system-x86_64).
/// Found paths are remembered, so each program is resolved once. Throws std::system_error
/// (ENOENT) naming the program and the directories searched when none holds it.
const std::string& program_path(std::string_view name);

}  // namespace berth::os
