// End-to-end attacks on what surrounds a VM on the host (issue 11, holes 1 and 7): a guest that
// plants setuid files, setgid files, device nodes and foreign owners through a host share, a
// share path that tries to add QEMU options with a comma, and (with the jail) a QEMU that must
// run unprivileged, in namespaces of its own, in a cgroup with limits.
#include "e2e.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace berth::e2e;
using namespace std::chrono;

namespace {

// A field ("Uid:", "CapEff:") of /proc/<pid>/status: the rest of its line, trimmed.
std::string status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0) {
      auto v = line.substr(field.size());
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return {};
}

// The real uid of a process (the first number of its Uid: line); -1 if it is gone.
long uid_of(pid_t pid) {
  auto v = status_field(pid, "Uid:");
  return v.empty() ? -1 : std::stol(v);
}

}  // namespace

TEST_CASE("a guest cannot plant setuid files, device nodes or foreign owners through a share") {
  auto& d = daemon::get();
  auto share = d.root() / "attack-share";
  fs::create_directories(share);
  // A host file with its own owner and mode: the guest sees them as they are.
  std::ofstream(share / "from-host") << "host\n";
  REQUIRE(::chown((share / "from-host").c_str(), 4321, 4321) == 0);
  REQUIRE(::chmod((share / "from-host").c_str(), 0640) == 0);
  // A share whose name tries to end the path and make the share read-only; "inj" is the
  // directory an injected path would name instead.
  auto comma = d.root() / "inj,readonly=on";
  auto decoy = d.root() / "inj";
  fs::create_directories(comma);
  fs::create_directories(decoy);

  d.ok({"run", "-d", "--name", "planter", "-v", share.string() + ":/s", "-v",
        comma.string() + ":/c", "busybox", "sleep", "100000"});
  auto pid = d.qemu_pid("planter");
  REQUIRE(pid > 0);
  auto attack = d.berth({"exec", "planter", "sh", "-c",
                         "cp /bin/busybox /s/suid && chown 0:0 /s/suid && chmod 4755 /s/suid && "
                         "cp /bin/busybox /s/sgid && chmod 2755 /s/sgid && "
                         "mknod /s/chr c 1 3 && mknod /s/blk b 7 0 && "
                         "touch /s/other && chown 1234:1234 /s/other && "
                         "echo written > /c/through-comma"});
  INFO(attack.out << attack.err);
  CHECK(attack.code == 0);

  // The guest sees what it asked for: its owners, modes and device types are kept for it.
  CHECK(d.ok({"exec", "planter", "stat", "-c", "%a %u %F", "/s/suid", "/s/chr", "/s/blk",
              "/s/other"}) ==
        "4755 0 regular file\n644 0 character special file\n644 0 block special file\n"
        "644 1234 regular empty file\n");
  CHECK(d.ok({"exec", "planter", "stat", "-c", "%a %u:%g", "/s/from-host"}) == "640 4321:4321\n");
  CHECK(d.ok({"exec", "planter", "cat", "/s/from-host"}) == "host\n");

  // With shares, QEMU keeps CAP_DAC_OVERRIDE and CAP_FOWNER (bits 1 and 3), nothing else.
  CHECK(status_field(pid, "CapEff:") == "000000000000000a");
  CHECK(status_field(pid, "CapBnd:") == "000000000000000a");
  // On the host: plain files, no setuid or setgid bit, owned by QEMU's own uid.
  auto qemu_uid = uid_of(pid);
  CHECK(qemu_uid == 2000000000L + pid);
  REQUIRE(qemu_uid >= 0);
  for (auto name : {"suid", "sgid", "chr", "blk", "other"}) {
    INFO(name);
    struct stat st {};
    REQUIRE(::lstat((share / name).c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) == 0);
    CHECK((st.st_mode & 0077) == 0);
    CHECK(static_cast<long>(st.st_uid) == qemu_uid);
    CHECK(st.st_uid != 1234);
  }
  // The comma stayed part of the path: the write went to that directory, not to the decoy, and
  // the share was not made read-only.
  CHECK(berth::os::read_file(comma / "through-comma") == "written\n");
  CHECK(fs::is_empty(decoy));
  d.ok({"rm", "-f", "planter"});
}

namespace {

// The berth cgroup of `pid` for `controller` ("memory" or "pids"), as a directory under
// /sys/fs/cgroup (v1 hierarchy, or v2's when it holds the controller); empty if none.
fs::path cgroup_dir(pid_t pid, const std::string& controller) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  fs::path v2;
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    auto ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (fs::path(path).filename().string().rfind("berth-", 0) != 0) continue;
    if (ctrls.empty()) {
      v2 = fs::path("/sys/fs/cgroup/unified") / fs::path(path).relative_path();
      if (!fs::exists(v2)) v2 = fs::path("/sys/fs/cgroup") / fs::path(path).relative_path();
      continue;
    }
    if (("," + ctrls + ",").find("," + controller + ",") != std::string::npos)
      return fs::path("/sys/fs/cgroup") / controller / fs::path(path).relative_path();
  }
  if (!v2.empty() && fs::exists(v2 / (controller + ".max"))) return v2;
  return {};
}

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

TEST_CASE("QEMU runs jailed: its own uid, no capabilities, its own namespaces, root and cgroup") {
  auto& d = daemon::get();
  d.ok({"run", "-d", "--name", "jailed", "--memory", "256m", "busybox", "sleep", "100000"});
  auto pid = d.qemu_pid("jailed");
  REQUIRE(pid > 0);
  // A uid and gid of its own (2000000000 + its pid), in every slot.
  auto id = std::to_string(2000000000L + pid);
  CHECK(status_field(pid, "Uid:") == id + "\t" + id + "\t" + id + "\t" + id);
  CHECK(status_field(pid, "Gid:") == id + "\t" + id + "\t" + id + "\t" + id);
  CHECK(status_field(pid, "Groups:").empty());
  // No capability at all, none it could regain, and no new privileges through exec.
  CHECK(status_field(pid, "CapEff:") == "0000000000000000");
  CHECK(status_field(pid, "CapPrm:") == "0000000000000000");
  CHECK(status_field(pid, "CapAmb:") == "0000000000000000");
  CHECK(status_field(pid, "CapBnd:") == "0000000000000000");
  CHECK(status_field(pid, "NoNewPrivs:") == "1");
  // QEMU's seccomp filter is still there.
  CHECK(status_field(pid, "Seccomp:") == "2");
  // Namespaces of its own.
  auto proc = fs::path("/proc") / std::to_string(pid);
  for (auto ns : {"mnt", "pid", "ipc", "uts"}) {
    INFO(ns);
    CHECK(fs::read_symlink(proc / "ns" / ns) != fs::read_symlink(fs::path("/proc/self/ns") / ns));
  }
  // Its tap came as an fd: it needs no network namespace of berthd's.
  CHECK(fs::read_symlink(proc / "ns/net") !=
        fs::read_symlink(fs::path("/proc") / std::to_string(d.netns_holder()) / "ns/net"));
  // Its root holds what QEMU reads and nothing of the host's secrets or berth's data.
  auto root = proc / "root";
  CHECK(fs::exists(root / "boot/kernel"));
  CHECK(fs::exists(root / "dev/null"));
  CHECK_FALSE(fs::exists(root / "etc/shadow"));
  CHECK_FALSE(fs::exists(root / "etc"));
  CHECK_FALSE(fs::exists(root / d.data_root().relative_path()));
  CHECK_FALSE(fs::exists(root / d.root().relative_path()));
  CHECK_FALSE(fs::exists(root / "root"));
  CHECK_FALSE(fs::exists(root / "home"));
  // Its root cannot be written.
  CHECK(::access((root / "boot").c_str(), W_OK) != 0);
  // Limits: guest RAM (256 MiB + 64 of guest overhead) plus QEMU's overhead, and a pids cap.
  auto mem = cgroup_dir(pid, "memory");
  auto pids = cgroup_dir(pid, "pids");
  if (mem.empty() || pids.empty()) {
    WARN("berth-skip: no memory or pids cgroup controller on this host");
  } else {
    auto limit_file =
        fs::exists(mem / "memory.max") ? mem / "memory.max" : mem / "memory.limit_in_bytes";
    auto limit = std::stoull(first_line(limit_file));
    CHECK(limit >= (320ull << 20));
    CHECK(limit <= (1024ull << 20));
    CHECK(std::stoull(first_line(pids / "pids.max")) <= 1024);
    CHECK(first_line(mem / "cgroup.procs") == std::to_string(pid));
  }
  d.ok({"rm", "-f", "jailed"});
  // Its cgroups go with it.
  if (!mem.empty()) CHECK(eventually([&] { return !fs::exists(mem); }, seconds(10)));
  if (!pids.empty()) CHECK(eventually([&] { return !fs::exists(pids); }, seconds(10)));
}
