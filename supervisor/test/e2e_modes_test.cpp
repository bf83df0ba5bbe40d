// End-to-end: what a local user who is not root can reach of berthd's files. After a start the
// data root and everything berthd made in it (berth.db and its -wal and -shm, image disks,
// content) is berthd's alone; a data root an older berthd left open (DATA 0755, DATA/tmp 0755,
// berth.db 0644) is narrowed by the next start. Checked as uid 65534 from a forked child. No
// VM is booted.
#include "e2e.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth/testing/skip.hpp"

#include <cerrno>

using namespace berth::e2e;

namespace {

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The errno with which uid and gid 65534 fail to open `path` for reading, or 0 if they can.
int errno_as_nobody(const fs::path& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(255);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ::_exit(fd >= 0 ? 0 : (errno & 0x7f));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The image disk of the loaded busybox image.
fs::path some_image_disk(const fs::path& data) {
  for (auto& e : fs::directory_iterator(data / "images"))
    if (fs::exists(e.path() / "rootfs.erofs")) return e.path() / "rootfs.erofs";
  FAIL("no image disk under " << data.string());
  return {};
}

void check_private(const berth::e2e::daemon& d) {
  auto data = d.data_root();
  CHECK(mode_of(data) == 0700);
  for (auto sub : {"tmp", "cache", "content", "images"}) {
    INFO(sub);
    CHECK(mode_of(data / sub) == 0700);
  }
  CHECK(mode_of(data / "berth.db") == 0600);
  for (auto side : {"berth.db-wal", "berth.db-shm"})
    if (fs::exists(data / side)) CHECK(mode_of(data / side) == 0600);
  auto disk = some_image_disk(data);
  CHECK(mode_of(disk.parent_path()) == 0700);
  CHECK((mode_of(d.run_root()) & 066) == 0);
  for (const auto& p : {data / "berth.db", data / "berth.db-wal", disk}) {
    INFO(p.string());
    CHECK(errno_as_nobody(p) == EACCES);
  }
}

}  // namespace

TEST_CASE("no other user reaches berth.db, image disks or anything else berthd keeps") {
  if (::geteuid() != 0) BERTH_SKIP("not root: cannot check as another uid");
  auto& d = berth::e2e::daemon::get();
  // The harness's directory is private (mkdtemp): open it, as /var/lib is, so that only
  // berthd's own modes stand between another user and the data root.
  REQUIRE(::chmod(d.root().c_str(), 0755) == 0);
  check_private(d);
}

TEST_CASE("a data root an older berthd left open is narrowed when berthd starts") {
  if (::geteuid() != 0) BERTH_SKIP("not root: cannot check as another uid");
  auto& d = berth::e2e::daemon::get();
  REQUIRE(::chmod(d.root().c_str(), 0755) == 0);
  auto data = d.data_root();
  d.kill_berthd(SIGTERM);
  // As berthd 0.1 left it: traversable DATA, listable tmp and images, a world-readable db.
  REQUIRE(::chmod(data.c_str(), 0755) == 0);
  REQUIRE(::chmod((data / "tmp").c_str(), 0755) == 0);
  REQUIRE(::chmod((data / "images").c_str(), 0755) == 0);
  REQUIRE(::chmod((data / "berth.db").c_str(), 0644) == 0);
  REQUIRE(::chmod(d.run_root().c_str(), 0755) == 0);
  CHECK(errno_as_nobody(data / "berth.db") == 0);  // the hole this closes
  d.start();
  check_private(d);
  CHECK(d.ok({"image", "ls", "-q"}).size() == 13);  // and nothing was lost
}
