// mounts.cpp: boot mounts, disk lookup by serial and the container root stack.
#include "mounts.hpp"

#include "log.hpp"
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace berth::agent {

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

std::string find_disk_by_serial(const std::string& sys_block, const std::string& serial) {
  DIR* dir = ::opendir(sys_block.c_str());
  if (!dir) return {};
  std::string found;
  while (auto* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (!name.starts_with("vd")) continue;
    if (trimmed(read_file(sys_block + "/" + name + "/serial")) == serial) {
      found = name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

int make_dirs(const std::string& path, unsigned mode) {
  for (std::size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

void mount_early_filesystems() {
  struct early {
    const char* source;
    const char* target;
    const char* type;
    unsigned long flags;
    const char* data;
  };
  static const early list[] = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
  };
  for (const auto& m : list) {
    ::mkdir(m.target, 0755);
    if (::mount(m.source, m.target, m.type, m.flags, m.data) != 0 && errno != EBUSY)
      log("mount %s on %s: %s", m.type, m.target, std::strerror(errno));
  }
}

void root_stack::mount_one(const std::string& source, const std::string& target, const char* type,
                           unsigned long flags, const std::string& data) {
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    throw rpc::call_error(errc::io, "mount " + std::string(type) + " on " + target +
                                        ": the mount point is not a directory");
  if (int err = make_dirs(target); err != 0)
    throw rpc::call_error(errc::io, "mkdir " + target + ": " + std::strerror(err));
  if (::mount(source.c_str(), target.c_str(), type, flags, data.empty() ? nullptr : data.c_str()) !=
      0)
    throw rpc::call_error(
        errc::io, "mount " + source + " (" + type + ") on " + target + ": " + std::strerror(errno));
  stack_.push_back(target);
}

void root_stack::mount(const mount_spec& spec, const std::string& sys_block) {
  if (mounted_) throw rpc::call_error(errc::conflict, "the container root is already mounted");
  if (spec.image_serial.empty() || spec.disk_serial.empty() ||
      spec.image_serial == spec.disk_serial)
    throw rpc::call_error(errc::invalid_argument,
                          "image_serial and disk_serial must be two different serials");
  auto image = find_disk_by_serial(sys_block, spec.image_serial);
  if (image.empty())
    throw rpc::call_error(errc::not_found, "no disk with serial \"" + spec.image_serial + "\"");
  auto disk = find_disk_by_serial(sys_block, spec.disk_serial);
  if (disk.empty())
    throw rpc::call_error(errc::not_found, "no disk with serial \"" + spec.disk_serial + "\"");

  const std::string image_dir = run_dir_ + "/image";
  const std::string disk_dir = run_dir_ + "/disk";
  const std::string root = rootfs();
  try {
    mount_one("/dev/" + image, image_dir, "erofs", MS_RDONLY, "");
    mount_one("/dev/" + disk, disk_dir, "ext4", 0, "");
    for (const char* sub : {"/upper", "/work"})
      if (::mkdir((disk_dir + sub).c_str(), 0755) != 0 && errno != EEXIST)
        throw rpc::call_error(errc::io, "mkdir " + disk_dir + sub + ": " + std::strerror(errno));
    mount_one(
        "overlay", root, "overlay", 0,
        "lowerdir=" + image_dir + ",upperdir=" + disk_dir + "/upper,workdir=" + disk_dir + "/work");
    mount_one("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
    mount_one("sysfs", root + "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "");
    mount_one("devtmpfs", root + "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_one("devpts", root + "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620");
    mount_one("shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  } catch (...) {
    unmount();
    throw;
  }
  mounted_ = true;
  log("mounted the container root: /dev/%s (erofs) + /dev/%s (ext4) on %s", image.c_str(),
      disk.c_str(), root.c_str());
}

void root_stack::unmount() {
  while (!stack_.empty()) {
    const auto& target = stack_.back();
    if (::umount2(target.c_str(), 0) != 0) {
      log("unmount %s: %s; detaching it", target.c_str(), std::strerror(errno));
      if (::umount2(target.c_str(), MNT_DETACH) != 0)
        log("detach %s: %s", target.c_str(), std::strerror(errno));
    }
    stack_.pop_back();
  }
  mounted_ = false;
}

}  // namespace berth::agent
