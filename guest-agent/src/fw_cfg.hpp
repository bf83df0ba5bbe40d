// fw_cfg: files QEMU hands the guest through its firmware configuration device (`-fw_cfg
// name=NAME,file=PATH`), read by berth-init without any kernel driver.
//
// On x86 the device is two I/O ports: a 16-bit selector at 0x510 and an 8-bit data port at 0x511
// that yields the selected item byte by byte. Item 0x0000 is the signature "QEMU"; item 0x0019 is
// the file directory: a big-endian u32 count, then `count` entries of 64 bytes
// {be32 size, be16 select, be16 reserved, char name[56]}; selecting an entry's `select` yields the
// file. PID 1 may use the ports after ioperm() (CAP_SYS_RAWIO). Elsewhere, or when ioperm is
// refused, the qemu_fw_cfg driver's sysfs files are tried instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::agent {

/// An entry of the fw_cfg file directory.
struct fw_cfg_file {
  uint32_t size = 0;    ///< Bytes in the file.
  uint16_t select = 0;  ///< The selector that yields it.
};

/// The entry named `name` in the raw bytes of a fw_cfg file directory (item 0x0019), or nothing.
/// A count larger than the entries present is read as the entries present.
std::optional<fw_cfg_file> find_fw_cfg_file(std::string_view directory, std::string_view name);

/// The content of the fw_cfg file `name`, at most `max_size` bytes: from the I/O ports on x86,
/// else from /sys/firmware/qemu_fw_cfg/by_name/<name>/raw. Nothing when it cannot be read, with
/// the reason in `why`.
std::optional<std::string> read_fw_cfg_file(std::string_view name, std::size_t max_size,
                                            std::string& why);

}  // namespace berth::agent
