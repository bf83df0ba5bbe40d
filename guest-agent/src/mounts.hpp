// mounts: the filesystems berth-init mounts, for itself at boot and for the container.
//
// The container root is a stack: the erofs image disk (read-only, shared by every container of the
// image) under an overlayfs whose upper and work directories live on the container's own ext4
// disk, with proc, sysfs, devtmpfs, devpts and a tmpfs for /dev/shm inside. Then come the
// container's own mounts (ext4 volumes, 9p host shares, tmpfs), the agent's /etc/hostname, hosts
// and resolv.conf bind-mounted over the image's, and last the root made read-only if asked. Disks
// are found by their virtio serial in /sys/block/vd*/serial, never by probe order. Mount points
// inside the root are resolved inside it (openat2, RESOLVE_IN_ROOT): an image whose /data is a
// symlink to / gets the volume on its own /, never on the VM's.
#pragma once

#include "berth/agent/protocol.hpp"

#include <string>
#include <string_view>
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

/// Mount flags and filesystem data of a mount entry's options.
struct mount_options {
  unsigned long flags = 0;
  std::string data;
};

/// Splits "size=64m,noexec,mode=1777": the generic words of mount(8) (ro, rw, nosuid, suid,
/// nodev, dev, noexec, exec, sync, async, noatime, atime, nodiratime, diratime, relatime,
/// norelatime, strictatime) become flags, the rest stays the filesystem's data, in order.
mount_options parse_mount_options(std::string_view options);

/// Checks the entries of spec.mounts before anything is mounted: a known type, an absolute target
/// without "..", other than "/", a source for disk and 9p. Throws
/// rpc::call_error(invalid_argument).
void check_mount_entries(const std::vector<mount_entry>& mounts);

/// The container root stack, mounted under a run directory ("/run/berth").
class root_stack {
 public:
  /// Makes an unmounted stack under `run_dir`; module sets (9p) come from `modules_dir`.
  explicit root_stack(std::string run_dir, std::string modules_dir = "/lib/modules")
      : run_dir_(std::move(run_dir)), modules_dir_(std::move(modules_dir)) {}

  /// Mounts image, disk, overlay and the inner filesystems, then what mount_into() mounts. On
  /// failure unmounts what it mounted and throws rpc::call_error: invalid_argument (a bad mount
  /// entry), not_found (a serial is absent), unsupported (no 9p modules in the initramfs), io (a
  /// mount failed), conflict (already mounted).
  void mount(const mount_spec& spec, const std::string& sys_block = "/sys/block");

  /// Mounts the rest of `spec` into `root`, a directory that is a mount point (the overlay in the
  /// VM; a tmpfs of a test on a development host): each of spec.mounts in order, the files of
  /// hostname, hosts and resolv_conf (written to <run_dir>/etc) bound over the root's /etc ones,
  /// then the root remounted read-only when readonly_root. Throws like mount(); on failure
  /// unmounts what this call mounted.
  void mount_into(const std::string& root, const mount_spec& spec,
                  const std::string& sys_block = "/sys/block");

  /// Unmounts everything mounted, innermost first; a busy mount is detached lazily.
  void unmount();

  /// Whether mount() succeeded.
  bool mounted() const { return mounted_; }

  /// Where the container's root directory is once mounted (<run_dir>/rootfs).
  std::string rootfs() const { return run_dir_ + "/rootfs"; }

  /// Mount points in mount order (for tests and the log).
  const std::vector<std::string>& mount_points() const { return stack_; }

 private:
  void mount_one(const std::string& source, const std::string& target, const char* type,
                 unsigned long flags, const std::string& data);
  void mount_entry_at(int root_fd, const mount_entry& entry, const std::string& sys_block);
  void bind_etc_file(int root_fd, const std::string& name, const std::string& content);
  void unmount_to(std::size_t depth);

  std::string run_dir_;
  std::string modules_dir_;
  bool mounted_ = false;
  std::vector<std::string> stack_;  // mount points, in mount order
};

}  // namespace berth::agent
