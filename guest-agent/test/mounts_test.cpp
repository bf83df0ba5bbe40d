// Tests of the container's extra mounts (mount_entry, the /etc files, readonly_root) against real
// tmpfs mounts in a sandbox, standing in for the overlay that only a VM has; and of module sets.
// The disk and 9p types need a VM (docs/guest-agent.md says how they were checked there); here
// only their failure paths run.
#include "mounts.hpp"
#include "boot.hpp"
#include "sandbox.hpp"

#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;

namespace {

mount_entry tmpfs_at(std::string target, bool readonly = false, std::string options = {}) {
  mount_entry e;
  e.type = "tmpfs";
  e.target = std::move(target);
  e.readonly = readonly;
  e.options = std::move(options);
  return e;
}

// The errno of creating `path`, 0 when it worked.
int create_error(const fs::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

template <class F>
errc code_of(F&& f) {
  try {
    f();
  } catch (const rpc::call_error& e) {
    return e.code();
  }
  return errc::none;
}

}  // namespace

TEST_CASE("mount options split into flags and filesystem data") {
  auto o = parse_mount_options("size=64m,noexec,mode=1777,ro,rw,nosuid,,uid=5");
  CHECK(o.flags == (MS_NOEXEC | MS_NOSUID));
  CHECK(o.data == "size=64m,mode=1777,uid=5");
  auto ro = parse_mount_options("ro");
  CHECK(ro.flags == MS_RDONLY);
  CHECK(ro.data.empty());
}

TEST_CASE("mount entries are checked before anything is mounted") {
  auto bad = [](mount_entry e) {
    return code_of([&] { check_mount_entries({tmpfs_at("/fine"), e}); });
  };
  mount_entry unknown = tmpfs_at("/x");
  unknown.type = "nfs";
  CHECK(bad(unknown) == errc::invalid_argument);
  CHECK(bad(tmpfs_at("relative")) == errc::invalid_argument);
  CHECK(bad(tmpfs_at("/a/../../etc")) == errc::invalid_argument);
  CHECK(bad(tmpfs_at("/")) == errc::invalid_argument);
  CHECK(bad(tmpfs_at("//")) == errc::invalid_argument);
  mount_entry disk = tmpfs_at("/data");
  disk.type = "disk";
  CHECK(bad(disk) == errc::invalid_argument);  // no serial
  disk.source = "vol1";
  CHECK(bad(disk) == errc::none);
  CHECK(bad(tmpfs_at("/a/..b/c..")) == errc::none);  // names with dots are fine
}

TEST_CASE("tmpfs mounts, the /etc files and a read-only root, all inside the root") {
  sandbox box;
  auto root = box.tmpfs("root");
  box.write("root/etc/hosts", "old hosts\n");
  fs::create_symlink("../run/systemd/resolve/stub-resolv.conf", root / "etc/resolv.conf");
  fs::create_directories(box.dir / "sys");

  mount_spec spec;
  spec.mounts = {tmpfs_at("/data", false, "size=1m"), tmpfs_at("/data/ro", true),
                 tmpfs_at("/scratch", false, "mode=0700,noexec")};
  spec.hostname = "box";
  spec.hosts = "127.0.0.1 localhost\n";
  spec.resolv_conf = "nameserver 10.0.2.3\n";
  spec.readonly_root = true;
  root_stack stack((box.dir / "run").string(), (box.dir / "modules").string());
  stack.mount_into(root.string(), spec, (box.dir / "sys").string());

  // The root refuses writes; the mounts keep their own flags.
  CHECK(create_error(root / "new") == EROFS);
  CHECK(create_error(root / "data/new") == 0);
  CHECK(create_error(root / "data/ro/new") == EROFS);
  CHECK(create_error(root / "scratch/new") == 0);
  CHECK((fs::status(root / "scratch").permissions() & fs::perms::all) == fs::perms(0700));
  CHECK((fs::status(root / "data").permissions() & fs::perms::all) == fs::perms(0777));
  struct statvfs sv {};
  REQUIRE(::statvfs((root / "data").c_str(), &sv) == 0);
  CHECK((sv.f_flag & ST_NOSUID) != 0);
  CHECK((sv.f_flag & ST_NODEV) != 0);
  CHECK(sv.f_blocks * sv.f_frsize == (1u << 20));
  REQUIRE(::statvfs((root / "scratch").c_str(), &sv) == 0);
  CHECK((sv.f_flag & ST_NOEXEC) != 0);

  // The /etc files: given contents, bound over the image's (created if missing, a dangling
  // symlink replaced), and writable although the root is not.
  CHECK(slurp(root / "etc/hostname") == "box\n");
  CHECK(slurp(root / "etc/hosts") == "127.0.0.1 localhost\n");
  CHECK(slurp(root / "etc/resolv.conf") == "nameserver 10.0.2.3\n");
  {
    std::ofstream out(root / "etc/hosts", std::ios::app);
    out << "10.0.0.2 db\n";
  }
  CHECK(slurp(box.dir / "run/etc/hosts") == "127.0.0.1 localhost\n10.0.0.2 db\n");

  CHECK(stack.mount_points().size() == 6);
  auto mounted = mounts_under(root);
  CHECK(mounted.size() == 7);  // the sandbox's root tmpfs and the six
  stack.unmount();
  CHECK(mounts_under(box.dir) == std::vector<std::string>{root.string()});
  // Unmounted, the image's files are back (the root's read-only flag stays with its mount).
  CHECK(slurp(root / "etc/hosts") == "old hosts\n");
}

TEST_CASE("a mount target or /etc reached through a symlink stays inside the root") {
  sandbox box;
  auto root = box.tmpfs("root");
  auto outside = box.dir / "outside";
  fs::create_directories(outside);
  // An image with /evil -> <the host path of `outside`>, and /up -> ../../../.. (out of reach).
  fs::create_symlink(outside, root / "evil");
  fs::create_symlink("../../../../../..", root / "up");

  mount_spec spec;
  spec.mounts = {tmpfs_at("/evil/sub"), tmpfs_at("/up/top")};
  spec.hosts = "127.0.0.1 localhost\n";
  root_stack stack((box.dir / "run").string());
  stack.mount_into(root.string(), spec, (box.dir / "sys").string());

  CHECK(fs::is_empty(outside));
  CHECK(mounts_under(outside).empty());
  // /evil/sub became <root>/<host path of outside>/sub; /up/top became <root>/top.
  auto inner = root / outside.relative_path() / "sub";
  auto points = stack.mount_points();
  REQUIRE(points.size() == 3);
  CHECK(points[0] == inner.string());
  CHECK(points[1] == (root / "top").string());
  CHECK(points[2] == (root / "etc/hosts").string());
  for (const auto& p : mounts_under(box.dir)) CHECK(p.starts_with(root.string()));
  stack.unmount();

  // /etc itself a symlink out of the root: the file goes inside or the call fails; never outside.
  fs::remove_all(root / "etc");
  fs::create_symlink(outside, root / "etc");
  root_stack second((box.dir / "run2").string());
  mount_spec only_hosts;
  only_hosts.hosts = "127.0.0.1 localhost\n";
  auto code = code_of([&] { second.mount_into(root.string(), only_hosts, ""); });
  CHECK((code == errc::none || code == errc::io));
  second.unmount();
  CHECK(fs::is_empty(outside));
  CHECK(mounts_under(outside).empty());
}

TEST_CASE("a failed mount_into unmounts what it mounted") {
  sandbox box;
  auto root = box.tmpfs("root");
  box.write("sys/vda/serial", "rootfs\n");
  mount_spec spec;
  mount_entry disk;
  disk.type = "disk";
  disk.source = "vol-missing";
  disk.target = "/vol";
  spec.mounts = {tmpfs_at("/a"), tmpfs_at("/b"), disk};
  root_stack stack((box.dir / "run").string());
  try {
    stack.mount_into(root.string(), spec, (box.dir / "sys").string());
    FAIL("mounted a disk that is not there");
  } catch (const rpc::call_error& e) {
    CHECK(e.code() == errc::not_found);
    CHECK(std::string(e.what()).find("vol-missing") != std::string::npos);
  }
  CHECK(stack.mount_points().empty());
  CHECK(mounts_under(box.dir) == std::vector<std::string>{root.string()});
}

TEST_CASE("a 9p mount in a VM without the 9p module set is unsupported") {
  sandbox box;
  auto root = box.tmpfs("root");
  fs::create_directories(box.dir / "modules");
  mount_entry share;
  share.type = "9p";
  share.source = "share0";
  share.target = "/share";
  mount_spec spec;
  spec.mounts = {share};
  root_stack stack((box.dir / "run").string(), (box.dir / "modules").string());
  try {
    stack.mount_into(root.string(), spec, (box.dir / "sys").string());
    FAIL("mounted 9p without its modules");
  } catch (const rpc::call_error& e) {
    CHECK(e.code() == errc::unsupported);
    CHECK(std::string(e.what()).starts_with("this VM's initramfs has no 9p modules"));
  }
  CHECK(mounts_under(box.dir) == std::vector<std::string>{root.string()});
}

TEST_CASE("a module set loads its list once, and a module that cannot load is an io error") {
  sandbox box;
  auto dir = (box.dir / "modules").string();
  box.write("modules/empty.list", "# nothing needed on this kernel\n\n");
  box.write("modules/broken.list", "missing.ko\n");
  CHECK(code_of([&] { load_module_set("empty", dir); }) == errc::none);
  CHECK(code_of([&] { load_module_set("empty", dir); }) == errc::none);
  CHECK(code_of([&] { load_module_set("broken", dir); }) == errc::io);
  CHECK(code_of([&] { load_module_set("broken", dir); }) == errc::io);  // tried again
  CHECK(code_of([&] { load_module_set("absent", dir); }) == errc::unsupported);
}
