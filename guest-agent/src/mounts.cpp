// mounts.cpp: boot mounts, disk lookup by serial, the container root stack and its extra mounts.
#include "mounts.hpp"

#include "berth/os/fd.hpp"
#include "boot.hpp"
#include "files.hpp"
#include "log.hpp"
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace berth::agent {

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

[[noreturn]] void io_error(const std::string& what, int err) {
  throw rpc::call_error(errc::io, what + ": " + std::strerror(err));
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string join_path(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += (i ? "/" : "") + parts[i];
  return out.empty() ? std::string(".") : out;
}

// The directory `parts` (its first `count` components, a path inside the root) opened O_PATH,
// created with its missing parents (mode 0755). Every prefix is resolved from the root, so
// symlinks resolve inside it; a dangling symlink on the way is followed and its target created,
// inside the root too (as runc does for mount points).
os::unique_fd directory_in_root(int root_fd, std::vector<std::string> parts, std::size_t count,
                                const std::string& shown) {
  parts.resize(count);
  os::unique_fd cur(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur) io_error("dup", errno);
  int links = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto prefix = join_path(parts, i + 1);
    os::unique_fd next(open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY));
    if (!next && errno == ENOENT) {
      if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0) {
        if (errno != EEXIST) io_error("mkdir /" + prefix + " for " + shown, errno);
        char link[PATH_MAX];
        auto n = ::readlinkat(cur.get(), parts[i].c_str(), link, sizeof link);
        if (n > 0 && ++links <= 40) {
          // A dangling symlink: go on with its target in place of this component.
          auto target = split_path(std::string(link, static_cast<std::size_t>(n)));
          std::vector<std::string> rest(parts.begin() + static_cast<long>(i) + 1, parts.end());
          if (link[0] == '/')
            parts.clear();
          else
            parts.resize(i);
          parts.insert(parts.end(), target.begin(), target.end());
          parts.insert(parts.end(), rest.begin(), rest.end());
          cur.reset(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
          if (!cur) io_error("dup", errno);
          i = static_cast<std::size_t>(-1);  // from the root again
          continue;
        }
      }
      next.reset(open_in_root(root_fd, prefix, O_PATH | O_DIRECTORY));
    }
    if (!next) io_error("mount point " + shown + ": /" + prefix, errno);
    cur = std::move(next);
  }
  return cur;
}

// The regular file at `rel` inside the root, opened O_PATH; created empty (0644, with /etc and
// other missing parents) if absent. A dangling symlink in its place is replaced by the file.
os::unique_fd file_in_root(int root_fd, const std::string& rel) {
  os::unique_fd fd(open_in_root(root_fd, rel, O_PATH));
  if (!fd && errno == ENOENT) {
    auto parts = split_path(rel);
    auto parent = directory_in_root(root_fd, parts, parts.size() - 1, "/" + rel);
    const char* name = parts.back().c_str();
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    os::unique_fd made(::openat(parent.get(), name, flags, 0644));
    if (!made && errno == ELOOP) {
      ::unlinkat(parent.get(), name, 0);
      made.reset(::openat(parent.get(), name, flags, 0644));
    }
    if (!made) io_error("create /" + rel, errno);
    fd.reset(open_in_root(root_fd, rel, O_PATH));
  }
  if (!fd) io_error("open /" + rel, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) io_error("stat /" + rel, errno);
  if (!S_ISREG(st.st_mode))
    throw rpc::call_error(errc::io, "/" + rel + " in the image is not a regular file");
  return fd;
}

// What mount(2) takes as the target for a descriptor, and the path it stands for.
std::string fd_target(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

std::string real_path(int fd) {
  char buf[PATH_MAX];
  auto n = ::readlink(fd_target(fd).c_str(), buf, sizeof buf);
  if (n < 0) io_error("readlink " + fd_target(fd), errno);
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

mount_options parse_mount_options(std::string_view options) {
  struct word {
    std::string_view name;
    unsigned long set;
    unsigned long clear;
  };
  static const word words[] = {
      {"ro", MS_RDONLY, 0},
      {"rw", 0, MS_RDONLY},
      {"nosuid", MS_NOSUID, 0},
      {"suid", 0, MS_NOSUID},
      {"nodev", MS_NODEV, 0},
      {"dev", 0, MS_NODEV},
      {"noexec", MS_NOEXEC, 0},
      {"exec", 0, MS_NOEXEC},
      {"sync", MS_SYNCHRONOUS, 0},
      {"async", 0, MS_SYNCHRONOUS},
      {"noatime", MS_NOATIME, 0},
      {"atime", 0, MS_NOATIME},
      {"nodiratime", MS_NODIRATIME, 0},
      {"diratime", 0, MS_NODIRATIME},
      {"relatime", MS_RELATIME, 0},
      {"norelatime", 0, MS_RELATIME},
      {"strictatime", MS_STRICTATIME, 0},
  };
  mount_options out;
  while (!options.empty()) {
    auto comma = options.find(',');
    auto item = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view{} : options.substr(comma + 1);
    if (item.empty()) continue;
    bool generic = false;
    for (const auto& w : words) {
      if (item != w.name) continue;
      out.flags = (out.flags | w.set) & ~w.clear;
      generic = true;
    }
    if (generic) continue;
    if (!out.data.empty()) out.data += ',';
    out.data += item;
  }
  return out;
}

void check_mount_entries(const std::vector<mount_entry>& mounts) {
  for (std::size_t i = 0; i < mounts.size(); ++i) {
    const auto& m = mounts[i];
    auto bad = [&](const std::string& why) {
      throw rpc::call_error(errc::invalid_argument,
                            "mount " + std::to_string(i) + " (" + m.target + "): " + why);
    };
    if (m.type != "disk" && m.type != "9p" && m.type != "tmpfs")
      bad("unknown type \"" + m.type + "\" (disk, 9p or tmpfs)");
    if (m.target.empty() || m.target[0] != '/') bad("the target is not an absolute path");
    auto parts = split_path(m.target);
    if (parts.empty()) bad("the target is /");
    for (const auto& p : parts)
      if (p == "..") bad("the target contains \"..\"");
    if (m.target.find('\0') != std::string::npos) bad("the target contains a NUL byte");
    if (m.type != "tmpfs" && m.source.empty()) bad("no source");
  }
}

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
  check_mount_entries(spec.mounts);
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
    mount_into(root, spec, sys_block);
  } catch (...) {
    unmount();
    throw;
  }
  mounted_ = true;
  log("mounted the container root: /dev/%s (erofs) + /dev/%s (ext4) on %s", image.c_str(),
      disk.c_str(), root.c_str());
}

void root_stack::mount_into(const std::string& root, const mount_spec& spec,
                            const std::string& sys_block) {
  check_mount_entries(spec.mounts);
  auto depth = stack_.size();
  try {
    os::unique_fd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd) io_error("open " + root, errno);
    for (const auto& entry : spec.mounts) mount_entry_at(root_fd.get(), entry, sys_block);
    if (!spec.hostname.empty()) bind_etc_file(root_fd.get(), "hostname", spec.hostname + "\n");
    if (!spec.hosts.empty()) bind_etc_file(root_fd.get(), "hosts", spec.hosts);
    if (!spec.resolv_conf.empty()) bind_etc_file(root_fd.get(), "resolv.conf", spec.resolv_conf);
    if (spec.readonly_root) {
      // A bind remount changes this mount's flags only: the mounts above keep theirs. The flags
      // it has (nosuid...) must be given again or they are cleared.
      struct statvfs sv {};
      if (::statvfs(root.c_str(), &sv) != 0) io_error("statvfs " + root, errno);
      unsigned long keep = 0;
      if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
      if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
      if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
      if (sv.f_flag & ST_NOATIME) keep |= MS_NOATIME;
      if (sv.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
      if (sv.f_flag & ST_RELATIME) keep |= MS_RELATIME;
      if (::mount(nullptr, root.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | keep,
                  nullptr) != 0)
        io_error("remount " + root + " read-only", errno);
    }
  } catch (...) {
    unmount_to(depth);
    throw;
  }
}

void root_stack::mount_entry_at(int root_fd, const mount_entry& entry,
                                const std::string& sys_block) {
  auto opts = parse_mount_options(entry.options);
  if (entry.readonly) opts.flags |= MS_RDONLY;
  std::string source;
  const char* type = nullptr;
  if (entry.type == "tmpfs") {
    source = "tmpfs";
    type = "tmpfs";
    opts.flags |= MS_NOSUID | MS_NODEV;
    if (entry.options.empty()) opts.data = "mode=1777";
  } else if (entry.type == "disk") {
    auto dev = find_disk_by_serial(sys_block, entry.source);
    if (dev.empty())
      throw rpc::call_error(errc::not_found, "no disk with serial \"" + entry.source + "\"");
    source = "/dev/" + dev;
    type = "ext4";
  } else {
    load_module_set("9p", modules_dir_);
    source = entry.source;
    type = "9p";
    std::string data = "trans=virtio,version=9p2000.L,access=client,msize=512000";
    if (!opts.data.empty()) data += "," + opts.data;
    opts.data = data;
  }
  auto parts = split_path(entry.target);
  auto point = directory_in_root(root_fd, parts, parts.size(), entry.target);
  auto path = real_path(point.get());
  if (::mount(source.c_str(), fd_target(point.get()).c_str(), type, opts.flags,
              opts.data.empty() ? nullptr : opts.data.c_str()) != 0)
    io_error("mount " + source + " (" + type + ") on " + entry.target, errno);
  stack_.push_back(path);
  log("mounted %s (%s) on %s%s", source.c_str(), type, path.c_str(),
      (opts.flags & MS_RDONLY) ? " read-only" : "");
}

void root_stack::bind_etc_file(int root_fd, const std::string& name, const std::string& content) {
  std::string dir = run_dir_ + "/etc";
  if (int err = make_dirs(dir); err != 0) io_error("mkdir " + dir, err);
  std::string source = dir + "/" + name;
  os::unique_fd out(::open(source.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) io_error("create " + source, errno);
  std::size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(out.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error("write " + source, errno);
    done += static_cast<std::size_t>(n);
  }
  out.reset();
  auto point = file_in_root(root_fd, "etc/" + name);
  auto path = real_path(point.get());
  if (::mount(source.c_str(), fd_target(point.get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
    io_error("bind " + source + " on /etc/" + name, errno);
  stack_.push_back(path);
}

void root_stack::unmount_to(std::size_t depth) {
  while (stack_.size() > depth) {
    const auto& target = stack_.back();
    if (::umount2(target.c_str(), 0) != 0) {
      log("unmount %s: %s; detaching it", target.c_str(), std::strerror(errno));
      if (::umount2(target.c_str(), MNT_DETACH) != 0)
        log("detach %s: %s", target.c_str(), std::strerror(errno));
    }
    stack_.pop_back();
  }
}

void root_stack::unmount() {
  unmount_to(0);
  mounted_ = false;
}

}  // namespace berth::agent
