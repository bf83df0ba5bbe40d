// Tests for image disks: mkfs.erofs output that fsck.erofs accepts, holds the tree with its
// owners, and that the kernel mounts; failures leave nothing behind.
#include "berth/image/erofs.hpp"

#include "berth/image/layout.hpp"
#include "berth/image/unpack.hpp"
#include "support.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;
namespace fs = std::filesystem;

namespace {

// The busybox image unpacked into tmp/rootfs.
fs::path unpack_busybox(const test::temp_dir& tmp) {
  test::build_busybox_fixture(tmp / "fixture");
  auto store = content_store::open(tmp / "content");
  REQUIRE(store);
  auto images = load_layout_dir(*store, tmp / "fixture" / "busybox-oci");
  REQUIRE(images);
  auto rootfs = tmp / "rootfs";
  fs::create_directory(rootfs);
  const auto& img = images->front().image;
  REQUIRE(unpack_layers(*store, img.layers, rootfs, img.config.diff_ids));
  return rootfs;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

bool kernel_has_erofs() {
  std::ifstream in{"/proc/filesystems"};
  std::string line;
  while (std::getline(in, line))
    if (line.find("erofs") != std::string::npos) return true;
  return false;
}

// Unmounts at scope exit, whatever happened in between.
struct mount_guard {
  fs::path target;
  bool mounted = false;
  ~mount_guard() {
    if (mounted) ::umount2(target.c_str(), MNT_DETACH);
  }
};

}  // namespace

TEST_CASE("build_erofs makes an image that fsck.erofs accepts") {
  test::temp_dir tmp;
  auto rootfs = unpack_busybox(tmp);
  auto size = build_erofs(rootfs, tmp / "disks" / "busybox.erofs");
  // The output directory must exist.
  CHECK(code(size) == errc::io);
  fs::create_directory(tmp / "disks");
  size = build_erofs(rootfs, tmp / "disks" / "busybox.erofs");
  REQUIRE(size);
  CHECK(*size == fs::file_size(tmp / "disks" / "busybox.erofs"));
  CHECK(*size > fs::file_size("/bin/busybox"));
  CHECK(names_in(tmp / "disks") == std::vector<std::string>{"busybox.erofs"});
  auto fsck = test::run({"fsck.erofs", (tmp / "disks" / "busybox.erofs").string()});
  INFO(fsck.output);
  CHECK(fsck.exit_code == 0);
}

TEST_CASE("the erofs image holds the tree with its owners, modes and links") {
  test::temp_dir tmp;
  auto rootfs = unpack_busybox(tmp);
  REQUIRE(build_erofs(rootfs, tmp / "busybox.erofs"));
  auto out = tmp / "extracted";
  auto r = test::run(
      {"fsck.erofs", "--extract=" + out.string(), "--preserve", (tmp / "busybox.erofs").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(test::read_file(out / "bin" / "busybox") == test::read_file("/bin/busybox"));
  CHECK(fs::read_symlink(out / "bin" / "sh") == "busybox");
  CHECK(test::read_file(out / "etc" / "passwd") == test::read_file(rootfs / "etc" / "passwd"));
  if (::geteuid() == 0) {
    struct stat st {};
    REQUIRE(::lstat((out / "home" / "app").c_str(), &st) == 0);
    CHECK(st.st_uid == 1000);
    REQUIRE(::lstat((out / "tmp").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 01777);
  }
}

TEST_CASE("the kernel mounts the erofs image read-only with the tree in it") {
  if (::geteuid() != 0 || !kernel_has_erofs()) {
    BERTH_SKIP("needs root and a kernel with erofs");
  }
  test::temp_dir tmp;
  auto rootfs = unpack_busybox(tmp);
  REQUIRE(build_erofs(rootfs, tmp / "busybox.erofs"));
  fs::create_directory(tmp / "mnt");
  mount_guard guard{tmp / "mnt"};
  auto r = test::run({"mount", "-t", "erofs", "-o", "loop,ro", (tmp / "busybox.erofs").string(),
                      guard.target.string()});
  if (r.exit_code != 0) {
    BERTH_SKIP("cannot mount a loop device here: " << r.output);
  }
  guard.mounted = true;
  CHECK(test::read_file(guard.target / "bin" / "busybox") == test::read_file("/bin/busybox"));
  CHECK(fs::read_symlink(guard.target / "bin" / "sh") == "busybox");
  struct stat st {};
  REQUIRE(::lstat((guard.target / "etc" / "passwd").c_str(), &st) == 0);
  CHECK(st.st_mtime == 1704067200);
  CHECK(::access((guard.target / "newfile").c_str(), F_OK) != 0);
  auto u = test::run({"umount", guard.target.string()});
  CHECK(u.exit_code == 0);
  guard.mounted = u.exit_code != 0;
}

TEST_CASE("a failing mkfs.erofs reports its output and leaves nothing behind") {
  test::temp_dir tmp;
  fs::create_directory(tmp / "rootfs");
  test::write_file(tmp / "rootfs" / "f", "x");
  fs::create_directory(tmp / "out");
  auto r = build_erofs(tmp / "rootfs", tmp / "out" / "disk.erofs",
                       erofs_options{"mkfs.erofs", {"--no-such-option"}});
  CHECK(code(r) == errc::io);
  CHECK_THAT(message(r), Catch::Contains("mkfs.erofs failed"));
  CHECK(fs::is_empty(tmp / "out"));
  auto missing = build_erofs(tmp / "rootfs", tmp / "out" / "disk.erofs",
                             erofs_options{"/nonexistent/mkfs.erofs", {}});
  CHECK(code(missing) == errc::unsupported);
  CHECK(fs::is_empty(tmp / "out"));
  CHECK(code(build_erofs(tmp / "nope", tmp / "out" / "disk.erofs")) == errc::not_found);
  CHECK(code(build_erofs(tmp / "rootfs" / "f", tmp / "out" / "disk.erofs")) ==
        errc::invalid_argument);
}

TEST_CASE("building again replaces the image in place") {
  test::temp_dir tmp;
  fs::create_directory(tmp / "rootfs");
  test::write_file(tmp / "rootfs" / "f", "first");
  auto first = build_erofs(tmp / "rootfs", tmp / "disk.erofs");
  REQUIRE(first);
  test::write_file(tmp / "rootfs" / "g", std::string(100000, 'g'));
  auto second = build_erofs(tmp / "rootfs", tmp / "disk.erofs");
  REQUIRE(second);
  CHECK(*second > *first);
  CHECK(fs::file_size(tmp / "disk.erofs") == *second);
  CHECK(names_in(tmp.path()) == std::vector<std::string>{"disk.erofs", "rootfs"});
}
