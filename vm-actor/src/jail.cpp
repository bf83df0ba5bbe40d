// jail.cpp: the jail's plan (made before the clone, so the child only makes syscalls), the
// child's side (namespaces, tmpfs root, binds, device nodes, pivot_root, uid, capabilities) and
// the parent's (cgroups, files the jail must own, the go-ahead with the uid).
#include "jail.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/process.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <grp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace berth::vm {

namespace {

namespace fs = std::filesystem;

inline constexpr log::logger jail_log("vm");

// One thing the child does to build the jail, with host paths already joined to the root.
struct jail_step {
  enum kind {
    make_dir,
    make_file,
    make_link,
    bind,
    bind_readonly,
    bind_writable,
    make_node,
    mount_proc
  } what;
  std::string path;    // in the jail, as a host path under the root
  std::string source;  // bind source, or link text
  dev_t dev = 0;       // make_node
};

jail_step step_of(jail_step::kind what, std::string path, std::string source = {}, dev_t dev = 0) {
  return {what, std::move(path), std::move(source), dev};
}

// Everything the child needs, prepared before the clone.
struct child_plan {
  std::string root;
  std::vector<jail_step> steps;
  int sync_fd = -1;  // read end: the parent sends the jail's uid when the child may go on
  bool share_caps = false;
  int last_cap = 40;
};

// The capabilities a jail with host shares keeps: 9p writes into host directories the jail's
// uid does not own and sets user.virtfs.* xattrs on files it did not create.
constexpr uint64_t share_caps_mask = (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER);

enum fixed_step : int {
  step_sync = 1,
  step_private,
  step_tmpfs,
  step_seal,
  step_pivot,
  step_hostname,
  step_bounding,
  step_ids,
  step_caps,
  step_nnp,
  step_first_plan = 100,
};

// The child's side; async-signal-safe calls only.
int child_setup(void* arg, int* step) {
  auto& p = *static_cast<child_plan*>(arg);
  *step = step_sync;
  uint32_t uid = 0;
  if (::read(p.sync_fd, &uid, sizeof uid) != static_cast<ssize_t>(sizeof uid)) return EPIPE;
  ::close(p.sync_fd);
  ::umask(0);
  *step = step_private;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  *step = step_tmpfs;
  if (::mount("tmpfs", p.root.c_str(), "tmpfs", MS_NOSUID, "size=1m,nr_inodes=1024,mode=0755") != 0)
    return errno;
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    auto& s = p.steps[i];
    *step = step_first_plan + static_cast<int>(i);
    auto path = s.path.c_str();
    int r = 0;
    switch (s.what) {
      case jail_step::make_dir:
        r = ::mkdir(path, 0755);
        if (r != 0 && errno == EEXIST) r = 0;
        break;
      case jail_step::make_file: {
        int fd = ::open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        r = fd < 0 ? -1 : ::close(fd);
        break;
      }
      case jail_step::make_link:
        r = ::symlink(s.source.c_str(), path);
        break;
      case jail_step::bind:
        r = ::mount(s.source.c_str(), path, nullptr, MS_BIND | MS_REC, nullptr);
        break;
      case jail_step::bind_readonly:
        r = ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                    nullptr);
        break;
      case jail_step::bind_writable:
        r = ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, nullptr);
        break;
      case jail_step::make_node:
        r = ::mknod(path, S_IFCHR | 0600, s.dev);
        if (r == 0) r = ::chown(path, uid, uid);
        break;
      case jail_step::mount_proc:
        r = ::mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
        break;
    }
    if (r != 0) return errno;
  }
  *step = step_seal;
  if (::mount(nullptr, p.root.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID, nullptr) != 0)
    return errno;
  *step = step_pivot;
  if (::chdir(p.root.c_str()) != 0) return errno;
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  if (::umount2(".", MNT_DETACH) != 0) return errno;
  if (::chdir("/") != 0) return errno;
  *step = step_hostname;
  if (::sethostname("berth-vm", 8) != 0) return errno;
  // Capabilities: none left in the bounding set but the kept ones, then the ids (keeping the
  // permitted set across setuid only when some are kept), then the kept ones made ambient so
  // they survive the exec of QEMU.
  uint64_t keep = p.share_caps ? share_caps_mask : 0;
  *step = step_bounding;
  for (int c = 0; c <= p.last_cap; ++c)
    if (!(keep & (1ull << c)) && ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      return errno;
  *step = step_ids;
  // Raw syscalls: glibc's wrappers would try to change every thread of the process it thinks
  // this still is (setxid broadcast), and wait forever for threads the clone did not copy.
  if (::syscall(SYS_setgroups, 0, nullptr) != 0) return errno;
  if (::syscall(SYS_setresgid, uid, uid, uid) != 0) return errno;
  if (keep && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errno;
  if (::syscall(SYS_setresuid, uid, uid, uid) != 0) return errno;
  *step = step_caps;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = data[0].inheritable = static_cast<uint32_t>(keep);
  data[1].effective = data[1].permitted = data[1].inheritable = static_cast<uint32_t>(keep >> 32);
  if (::syscall(SYS_capset, &hdr, data) != 0) return errno;
  for (int c = 0; c < 64; ++c)
    if ((keep & (1ull << c)) && ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
      return errno;
  *step = step_nnp;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

std::string describe(const child_plan& p, int step) {
  static const char* fixed[] = {"",
                                "wait for the go-ahead",
                                "make the mounts private",
                                "mount the jail's tmpfs",
                                "make the jail read-only",
                                "pivot_root into the jail",
                                "set the hostname",
                                "drop the bounding capabilities",
                                "set the jail's uid and gid",
                                "set the kept capabilities",
                                "set no_new_privs"};
  std::string what = "jail: ";
  if (step > 0 && step < static_cast<int>(std::size(fixed))) return what + fixed[step];
  auto i = static_cast<std::size_t>(step - step_first_plan);
  if (step >= step_first_plan && i < p.steps.size()) {
    auto& s = p.steps[i];
    static const char* kinds[] = {"mkdir",          "create",      "symlink", "bind-mount",
                                  "read-only bind", "nosuid bind", "mknod",   "mount proc at"};
    return what + kinds[s.what] + " " + s.path + (s.source.empty() ? "" : " (" + s.source + ")");
  }
  return what + "step " + std::to_string(step);
}

// Adds mkdir steps for every ancestor of `target` (in the jail) not made yet.
void add_parents(child_plan& p, std::set<std::string>& made, const fs::path& target) {
  fs::path at = p.root;
  for (auto it = target.begin(); it != target.end(); ++it) {
    if (std::next(it) == target.end()) break;
    if (*it == "/") continue;
    at /= *it;
    if (made.insert(at.string()).second)
      p.steps.push_back(step_of(jail_step::make_dir, at.string()));
  }
}

child_plan plan_of(const jail_spec& spec) {
  child_plan p;
  p.root = spec.root.string();
  p.share_caps = spec.share_caps;
  std::ifstream last("/proc/sys/kernel/cap_last_cap");
  if (!(last >> p.last_cap)) p.last_cap = 63;
  std::set<std::string> made;
  auto in_jail = [&](const fs::path& target) {
    return (spec.root / target.relative_path()).string();
  };
  for (auto& b : spec.binds) {
    add_parents(p, made, b.target);
    auto path = in_jail(b.target);
    bool dir = fs::is_directory(b.source);
    if (made.insert(path).second)
      p.steps.push_back(step_of(dir ? jail_step::make_dir : jail_step::make_file, path));
    p.steps.push_back(step_of(jail_step::bind, path, b.source.string()));
    p.steps.push_back(
        step_of(b.readonly ? jail_step::bind_readonly : jail_step::bind_writable, path));
  }
  for (auto& d : spec.devices) {
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    add_parents(p, made, d);
    p.steps.push_back(step_of(jail_step::make_node, in_jail(d), {}, st.st_rdev));
  }
  for (auto& [link, text] : std::vector<std::pair<fs::path, fs::path>>{
           {"/lib", "usr/lib"}, {"/lib64", "usr/lib64"}, {"/bin", "usr/bin"}}) {
    std::error_code ec;
    if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec) == text &&
        !made.count(in_jail(link)))
      p.steps.push_back(step_of(jail_step::make_link, in_jail(link), text.string()));
  }
  if (spec.proc) {
    add_parents(p, made, "/proc/x");
    p.steps.push_back(step_of(jail_step::mount_proc, in_jail("/proc")));
  }
  return p;
}

// --- cgroups ---

struct cgroup_dir {
  fs::path dir;
  std::string memory_file;  // empty: this hierarchy does not limit memory
  std::string pids_file;
};

struct hierarchy {
  fs::path mount;
  bool v2 = false;
  std::set<std::string> controllers;  // v1: from the mount options
};

std::vector<hierarchy> hierarchies() {
  std::vector<hierarchy> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mount, opts;
    f >> id >> parent >> dev >> root >> mount >> opts;
    std::string w;
    while (f >> w && w != "-") {
    }
    std::string type, source, super;
    f >> type >> source >> super;
    if (type != "cgroup" && type != "cgroup2") continue;
    hierarchy h{mount, type == "cgroup2", {}};
    std::istringstream o(super);
    for (std::string c; std::getline(o, c, ',');) h.controllers.insert(c);
    out.push_back(std::move(h));
  }
  return out;
}

// Lines of /proc/<pid>/cgroup: controllers ("" for v2) and path.
std::vector<std::pair<std::string, std::string>> cgroups_of(const std::string& pid) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/" + pid + "/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out.emplace_back(line.substr(a + 1, b - a - 1), line.substr(b + 1));
  }
  return out;
}

std::set<std::string> words_of(const fs::path& file) {
  std::ifstream in(file);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

// Where the hierarchy of `controller` ("" for v2) puts a process of cgroup `path`.
std::optional<fs::path> mounted_dir(const std::vector<hierarchy>& hs, const std::string& ctrls,
                                    const std::string& path) {
  for (auto& h : hs) {
    if (ctrls.empty() ? !h.v2 : h.v2) continue;
    if (!ctrls.empty()) {
      auto first = ctrls.substr(0, ctrls.find(','));
      if (!h.controllers.count(first)) continue;
    }
    return h.mount / fs::path(path).relative_path();
  }
  return std::nullopt;
}

std::vector<cgroup_dir> plan_cgroups(const std::string& name) {
  std::vector<cgroup_dir> out;
  auto hs = hierarchies();
  auto own = cgroups_of("self");
  // cgroup v2, when berthd's own cgroup offers both controllers to its children.
  for (auto& [ctrls, path] : own) {
    if (!ctrls.empty()) continue;
    auto base = mounted_dir(hs, ctrls, path);
    if (!base) continue;
    auto have = words_of(*base / "cgroup.controllers");
    if (!have.count("memory") || !have.count("pids")) continue;
    auto enabled = words_of(*base / "cgroup.subtree_control");
    if (!enabled.count("memory") || !enabled.count("pids")) {
      std::ofstream ctl(*base / "cgroup.subtree_control");
      ctl << "+memory +pids" << std::flush;
      if (!ctl) {
        jail_log.warn(
            "jail: cannot enable memory and pids in {} (a cgroup v2 with processes): "
            "trying cgroup v1",
            base->string());
        continue;
      }
    }
    out.push_back({*base / name, "memory.max", "pids.max"});
    return out;
  }
  // cgroup v1: the memory and pids hierarchies, each where it is mounted.
  for (auto ctrl : {"memory", "pids"}) {
    for (auto& h : hs) {
      if (h.v2 || !h.controllers.count(ctrl)) continue;
      for (auto& [ctrls, path] : own) {
        std::istringstream c(ctrls);
        bool match = false;
        for (std::string w; std::getline(c, w, ',');) match |= w == ctrl;
        if (!match) continue;
        auto dir = h.mount / fs::path(path).relative_path() / name;
        out.push_back({dir, std::string(ctrl) == "memory" ? "memory.limit_in_bytes" : "",
                       std::string(ctrl) == "pids" ? "pids.max" : ""});
      }
    }
  }
  return out;
}

void write_value(const fs::path& file, const std::string& value) {
  os::unique_fd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    throw os::sys_error(errno, "write " + value + " to " + file.string());
}

// Makes the jail's cgroups, sets their limits and puts `pid` in them.
void enter_cgroups(const std::vector<cgroup_dir>& dirs, const jail_spec& spec, pid_t pid) {
  for (auto& c : dirs) {
    ::rmdir(c.dir.c_str());  // a previous run's, if it is empty
    if (::mkdir(c.dir.c_str(), 0755) != 0) throw os::sys_error(errno, "mkdir " + c.dir.string());
    if (!c.memory_file.empty() && spec.memory_limit)
      write_value(c.dir / c.memory_file, std::to_string(spec.memory_limit));
    if (!c.pids_file.empty() && spec.pids_limit)
      write_value(c.dir / c.pids_file, std::to_string(spec.pids_limit));
    write_value(c.dir / "cgroup.procs", std::to_string(pid));
  }
}

}  // namespace

jail_spec qemu_jail(const fs::path& root, const std::string& qemu_binary) {
  jail_spec spec;
  spec.root = root;
  spec.binds.push_back({qemu_binary, qemu_binary, true});
  // QEMU is linked dynamically: its loader, libraries, modules and firmware, read-only.
  for (auto dir : {"/usr/lib", "/usr/lib64", "/usr/share/qemu", "/usr/share/seabios"}) {
    std::error_code ec;
    if (fs::is_directory(dir, ec) && !fs::is_symlink(dir, ec)) spec.binds.push_back({dir, dir});
  }
  spec.devices = {"/dev/null", "/dev/urandom"};
  return spec;
}

std::vector<fs::path> jail_cgroup_dirs(const std::string& name) {
  std::vector<fs::path> out;
  for (auto& c : plan_cgroups(name)) out.push_back(c.dir);
  return out;
}

void remove_jail_cgroups(const std::vector<fs::path>& dirs) {
  for (auto& d : dirs) {
    // A process that just exited may still be leaving its cgroup.
    for (int i = 0; i < 50 && ::rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<fs::path> jail_cgroups_of(pid_t pid) {
  std::vector<fs::path> out;
  auto hs = hierarchies();
  for (auto& [ctrls, path] : cgroups_of(std::to_string(pid))) {
    if (fs::path(path).filename().string().rfind("berth-", 0) != 0) continue;
    if (auto dir = mounted_dir(hs, ctrls, path)) out.push_back(*dir);
  }
  return out;
}

caf::expected<pid_t> spawn_jailed(const std::vector<std::string>& argv, const jail_spec& spec,
                                  int stdout_fd, int stderr_fd, std::vector<int> keep_fds) {
  auto plan = plan_of(spec);
  int sync[2];
  if (::pipe2(sync, O_CLOEXEC) != 0)
    return make_error(errc::io, std::string("pipe: ") + std::strerror(errno));
  os::unique_fd sync_read(sync[0]), sync_write(sync[1]);
  plan.sync_fd = sync_read.get();
  auto cgroups = spec.cgroup.empty() ? std::vector<cgroup_dir>{} : plan_cgroups(spec.cgroup);
  if (!spec.cgroup.empty() && cgroups.empty())
    jail_log.warn("jail: no memory or pids cgroup controller found: {} runs without limits",
                  spec.cgroup);
  static char* const no_env[] = {nullptr};
  os::spawn_options opts;
  opts.stdout_fd = stdout_fd;
  opts.stderr_fd = stderr_fd;
  opts.keep_fds = std::move(keep_fds);
  opts.new_session = true;
  opts.envp = no_env;
  opts.namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                    (spec.new_network ? CLONE_NEWNET : 0);
  opts.child_setup = child_setup;
  opts.child_arg = &plan;
  opts.describe_step = [&plan](int step) { return describe(plan, step); };
  opts.after_clone = [&](pid_t pid) {
    auto id = static_cast<uint64_t>(spec.uid_base) + static_cast<uint64_t>(pid);
    if (id >= 0xfffffffeull) throw os::sys_error(ERANGE, "jail uid base + pid out of range");
    auto uid = static_cast<uint32_t>(id);
    enter_cgroups(cgroups, spec, pid);
    for (auto& f : spec.owned)
      if (::chown(f.c_str(), uid, uid) != 0) throw os::sys_error(errno, "chown " + f.string());
    if (::write(sync_write.get(), &uid, sizeof uid) != static_cast<ssize_t>(sizeof uid))
      throw os::sys_error(errno, "jail go-ahead");
    sync_write.reset();
  };
  try {
    return os::spawn(argv, opts);
  } catch (const std::system_error& e) {
    std::vector<fs::path> dirs;
    for (auto& c : cgroups) dirs.push_back(c.dir);
    remove_jail_cgroups(dirs);
    return make_error(errc::unavailable, std::string("cannot start QEMU: ") + e.what());
  }
}

}  // namespace berth::vm
