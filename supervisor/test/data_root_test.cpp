// Tests that attack berthd's data and run roots as another local user would: a data root left
// open by an older berthd (DATA 0755, DATA/tmp 0755, berth.db 0644) is narrowed at start, and
// uid 65534 then reaches nothing in it; berth.db and its -wal and -shm are 0600 even under a
// permissive umask; a root owned by another user is refused.
#include "berth/supervisor/data_root.hpp"
#include "berth/supervisor/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include "berth/actors/testing/temp_dir.hpp"
#include "berth/testing/skip.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>

using namespace berth;
namespace fs = std::filesystem;

namespace {

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void touch(const fs::path& p, mode_t mode) {
  std::ofstream{p} << "x";
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

void make_dir(const fs::path& p, mode_t mode) {
  fs::create_directories(p);
  REQUIRE(::chmod(p.c_str(), mode) == 0);
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

struct config : caf::actor_system_config {
  config() { add_message_types<caf::id_block::berth>(); }
};

}  // namespace

TEST_CASE("a data root left open by an older berthd is narrowed at start") {
  berth::testing::temp_dir dir;
  REQUIRE(::chmod(dir.path.c_str(), 0755) == 0);  // as /var/lib is
  auto data = dir.path / "data";
  auto run = dir.path / "run";
  make_dir(data, 0711);
  make_dir(data / "tmp", 0755);
  make_dir(data / "images" / "abc", 0755);
  make_dir(data / "containers", 0777);
  touch(data / "berth.db", 0644);
  touch(data / "berth.db-wal", 0644);
  touch(data / "credentials.json", 0600);
  make_dir(run / "0123456789ab", 0755);
  REQUIRE(::chmod(run.c_str(), 0755) == 0);
  if (::geteuid() == 0) CHECK(errno_as_nobody(data / "berth.db") == 0);  // the hole, before

  REQUIRE(secure_roots(data, run));
  CHECK(mode_of(data) == 0700);
  CHECK(mode_of(data / "tmp") == 0700);
  CHECK(mode_of(data / "cache") == 0700);
  CHECK(mode_of(data / "images") == 0700);
  CHECK(mode_of(data / "containers") == 0700);
  CHECK(mode_of(data / "berth.db") == 0600);
  CHECK(mode_of(data / "berth.db-wal") == 0600);
  CHECK(mode_of(data / "credentials.json") == 0600);
  CHECK(mode_of(run) == 0711);
  CHECK(mode_of(run / "0123456789ab") == 0700);
  // Never widened: a narrower mode stays.
  REQUIRE(::chmod((data / "images").c_str(), 0500) == 0);
  REQUIRE(secure_roots(data, run));
  CHECK(mode_of(data / "images") == 0500);
  if (::geteuid() != 0) BERTH_SKIP("not root: cannot check as another uid");
  for (auto p : {data / "berth.db", data / "berth.db-wal", data / "images" / "abc", data / "tmp",
                 run / "0123456789ab"}) {
    INFO(p.string());
    CHECK(errno_as_nobody(p) == EACCES);
  }
}

TEST_CASE("a data or run root owned by another user is refused") {
  if (::geteuid() != 0) BERTH_SKIP("not root: a directory cannot be given to another user");
  berth::testing::temp_dir dir;
  auto data = dir.path / "data";
  make_dir(data, 0700);
  REQUIRE(::chown(data.c_str(), 65534, 65534) == 0);
  auto r = secure_roots(data, dir.path / "run");
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::conflict);
  CHECK_THAT(describe(r.error()), Catch::Contains("owned by uid 65534"));
}

TEST_CASE("berth.db and its wal and shm files are 0600 whatever the umask") {
  berth::testing::temp_dir dir;
  auto db = dir.path / "berth.db";
  auto old = ::umask(0);  // the test process has one thread here; restored below
  {
    config cfg;
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto store = spawn_store(caf::actor_cast<caf::local_actor*>(self.ptr()), db);
    REQUIRE(store);
    container_record rec;
    rec.id = "a1";
    rec.name = "web";
    self->request(*store, caf::infinite, save_atom_v, rec)
        .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
    CHECK(mode_of(db) == 0600);
    CHECK(mode_of(dir.path / "berth.db-wal") == 0600);
    CHECK(mode_of(dir.path / "berth.db-shm") == 0600);
    self->unlink_from(*store);
    self->send_exit(*store, caf::exit_reason::user_shutdown);
  }
  ::umask(old);
  // An existing database an older berthd left 0644 is narrowed when opened.
  REQUIRE(::chmod(db.c_str(), 0644) == 0);
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto store = spawn_store(caf::actor_cast<caf::local_actor*>(self.ptr()), db);
  REQUIRE(store);
  CHECK(mode_of(db) == 0600);
  self->unlink_from(*store);
  self->send_exit(*store, caf::exit_reason::user_shutdown);
}
