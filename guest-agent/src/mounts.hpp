// mounts: the filesystems berth-init mounts, for itself at boot and for the container.
//
// The container root is a stack: the erofs image disk (read-only, shared by every container of the
// image) under an overlayfs whose upper and work directories live on the container's own ext4
// disk, with proc, sysfs, devtmpfs, devpts and a tmpfs for /dev/shm inside. Disks are found by
// their virtio serial in /sys/block/vd*/serial, never by probe order.
#pragma once

#include "berth/agent/protocol.hpp"

#include <string>
#include <vector>

namespace berth::agent {

/// The block device name ("vdb") under `sys_block` ("/sys/block") whose serial is `serial`, or ""
/// when none has it.
std::string find_disk_by_serial(const std::string& sys_block, const std::string& serial);

/// Creates `path` and its missing parents; returns 0 or the errno of the failing mkdir.
int make_dirs(const std::string& path, unsigned mode = 0755);

/// Mounts what PID 1 needs: /proc, /sys, devtmpfs on /dev, devpts on /dev/pts, tmpfs on /run.
/// Failures are logged; boot goes on with what worked.
void mount_early_filesystems();

/// The container root stack, mounted under a run directory ("/run/berth").
class root_stack {
 public:
  /// Makes an unmounted stack under `run_dir`.
  explicit root_stack(std::string run_dir) : run_dir_(std::move(run_dir)) {}

  /// Mounts image, disk, overlay and the inner filesystems. On failure unmounts what it mounted
  /// and throws rpc::call_error: not_found (a serial is absent), io (a mount failed), conflict
  /// (already mounted).
  void mount(const mount_spec& spec, const std::string& sys_block = "/sys/block");

  /// Unmounts everything mounted, innermost first; a busy mount is detached lazily.
  void unmount();

  /// Whether mount() succeeded.
  bool mounted() const { return mounted_; }

  /// Where the container's root directory is once mounted (<run_dir>/rootfs).
  std::string rootfs() const { return run_dir_ + "/rootfs"; }

 private:
  void mount_one(const std::string& source, const std::string& target, const char* type,
                 unsigned long flags, const std::string& data);

  std::string run_dir_;
  bool mounted_ = false;
  std::vector<std::string> stack_;  // mount points, in mount order
};

}  // namespace berth::agent
