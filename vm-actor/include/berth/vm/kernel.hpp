// kernel: the guest kernel and the initramfs that boots berth-init, prepared once per kernel.
//
// `--kernel` names either an unpacked Debian kernel package (a directory with boot/vmlinuz-* and
// lib/modules/<release>, what scripts/install-deps.sh makes) or a kernel image file. A bzImage is
// booted as its uncompressed vmlinux (PVH entry), cut out of the bzImage by finding its
// compressor's magic and decompressing from there: under TCG that saves seconds of in-guest
// decompression. The initramfs holds /init (berth-init), /dev/console and the modules the VM
// needs with /lib/modules/load.list in dependency order (docs/guest-agent.md). Both are cached
// under the data root, keyed by what they are made from.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace berth::vm {

/// A guest kernel ready to boot.
struct kernel_info {
  std::filesystem::path source;       ///< As given by --kernel.
  std::filesystem::path image;        ///< The kernel image itself (bzImage or vmlinux).
  std::filesystem::path boot_image;   ///< What QEMU boots: the extracted vmlinux or `image`.
  std::string release;                ///< "6.1.0-56-amd64".
  std::filesystem::path modules_dir;  ///< lib/modules/<release>; empty if the kernel has none.
};

/// Finds the kernel image and its modules and, for a bzImage, extracts (or reuses) its vmlinux
/// under `cache_dir`.
caf::expected<kernel_info> prepare_kernel(const std::filesystem::path& kernel,
                                          const std::filesystem::path& cache_dir);

/// The release string in a kernel image ("Linux version <release> ..."), empty if not found.
std::string kernel_release(const std::filesystem::path& image);

/// Module files to load for `names`, dependencies (modules.dep) and pre-softdeps
/// (modules.softdep, via modules.alias) first, each once. Modules built into the kernel
/// (modules.builtin) are skipped; an unknown module is not_found.
caf::expected<std::vector<std::filesystem::path>> resolve_modules(
    const std::filesystem::path& modules_dir, const std::vector<std::string>& names);

/// The modules berth-init loads: block, console, balloon, filesystems and, with `vsock`, the
/// vsock transport.
std::vector<std::string> guest_modules(bool vsock);

/// Module sets berth-init loads on demand, by name (`/lib/modules/<name>.list`): "9p" for host
/// directory shares.
std::map<std::string, std::vector<std::string>> optional_module_sets();

/// An initramfs and the optional module sets it holds.
struct initramfs_info {
  std::filesystem::path path;
  std::set<std::string> sets;  ///< Sets whose modules this kernel has.
};

/// Builds (or reuses) the initramfs for `kernel` with `agent` as /init, `modules` loaded at boot
/// and the optional `sets` the kernel can provide (a set with a missing module is left out).
caf::expected<initramfs_info> build_initramfs(
    const kernel_info& kernel, const std::filesystem::path& agent,
    const std::vector<std::string>& modules,
    const std::map<std::string, std::vector<std::string>>& sets,
    const std::filesystem::path& cache_dir);

}  // namespace berth::vm
