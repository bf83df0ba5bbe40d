// os_test: the POSIX layer against the real kernel: durable writes, bounded reads, spawning and
// capturing, and unix sockets whose mode never exceeds what was asked.
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/program.hpp"
#include "berth/os/random.hpp"
#include "berth/os/socket.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;
using namespace berth;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/berth-os-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("write_file_atomic replaces a file whole and leaves no temporary file") {
  temp_dir dir;
  auto file = dir.path / "record.json";
  os::write_file_atomic(file, "old", 0600);
  os::write_file_atomic(file, "new contents", 0600);
  CHECK(os::read_file(file) == "new contents");
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("read_file refuses a file larger than its limit") {
  temp_dir dir;
  auto file = dir.path / "big";
  os::write_file_atomic(file, std::string(100, 'x'));
  CHECK(os::read_file(file, 100).size() == 100);
  try {
    os::read_file(file, 99);
    FAIL("a 100-byte file was read under a 99-byte limit");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EFBIG);
  }
}

TEST_CASE("read_tail reads only the end of a large file") {
  temp_dir dir;
  auto file = dir.path / "console.log";
  os::write_file_atomic(file, std::string(1000, 'a') + "last line\n");
  CHECK(os::read_tail(file, 10) == "last line\n");
  CHECK(os::read_tail(file, 1 << 20).size() == 1010);
  CHECK_THROWS_AS(os::read_tail(dir.path / "missing", 10), std::system_error);
}

TEST_CASE("run captures output, exit codes and kills a process past its time limit") {
  auto r = os::run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.output == "out\n");
  CHECK(r.errors == "err\n");
  auto slow = os::run({"sleep", "30"}, std::chrono::milliseconds(100));
  CHECK(slow.exit_code == 128 + SIGKILL);
  CHECK_THAT(slow.errors, Catch::Contains("time limit"));
}

TEST_CASE("spawn reports a program that cannot be executed as an error, not a child") {
  try {
    os::spawn({"/nonexistent/berth-no-such-program"});
    FAIL("spawn of a missing program returned a pid");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
  }
}

TEST_CASE("a bare program name is found at a fixed path and never through PATH") {
  // A planted `sh` first in PATH must not run: spawn and run look only in program_dirs.
  temp_dir planted;
  os::write_file_atomic(planted.path / "sh", "#!/bin/busybox sh\necho planted\n", 0755);
  os::write_file_atomic(planted.path / "berth-planted-tool", "#!/bin/busybox sh\necho hi\n", 0755);
  std::string old_path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  ::setenv("PATH", (planted.path.string() + ":" + old_path).c_str(), 1);
  auto r = os::run({"sh", "-c", "echo real"});
  bool missing_refused = false;
  std::string why;
  try {
    os::run({"berth-planted-tool"});
  } catch (const std::system_error& e) {
    missing_refused = e.code().value() == ENOENT;
    why = e.what();
  }
  ::setenv("PATH", old_path.c_str(), 1);
  CHECK(r.output == "real\n");
  CHECK(missing_refused);
  CHECK_THAT(why, Catch::Contains("berth-planted-tool is not installed") &&
                      Catch::Contains("/usr/bin, /usr/sbin, /bin, /sbin"));
  auto& sh = os::program_path("sh");
  CHECK(fs::path(sh).is_absolute());
  CHECK(fs::path(sh).parent_path() != planted.path);
  // Resolved once: the same string every time.
  CHECK(&os::program_path("sh") == &sh);
  // An explicit path is the administrator's choice and is kept.
  CHECK(os::program_path("/opt/x/qemu") == "/opt/x/qemu");
}

TEST_CASE("spawn closes every descriptor but the ones it is asked to keep") {
  os::unique_fd leaked(::open("/dev/null", O_RDONLY));  // not close-on-exec on purpose
  REQUIRE(leaked);
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  os::unique_fd r(pipefd[0]), w(pipefd[1]);
  auto result = os::run({"sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"});
  CHECK(result.exit_code == 0);
  // 0, 1, 2, and the fd `ls` itself opens for /proc/self/fd.
  CHECK(result.output == "0 1 2 3 ");
}

TEST_CASE(
    "a unix listener's socket file never has more permissions than asked, whatever the umask") {
  temp_dir dir;
  auto path = dir.path / "api.sock";
  auto old = ::umask(0);
  auto fd = os::listen_unix(path, 0660);
  ::umask(old);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);

  auto client = os::connect_unix(path);
  CHECK(client);
  os::unique_fd accepted(::accept(fd.get(), nullptr, nullptr));
  CHECK(accepted);
}

TEST_CASE("a unix listener replaces a stale socket file and refuses a path too long to bind") {
  temp_dir dir;
  auto path = dir.path / "stale.sock";
  { auto first = os::listen_unix(path, 0600); }  // closed: its file stays behind
  REQUIRE(fs::exists(path));
  CHECK_NOTHROW(os::listen_unix(path, 0600));
  CHECK_THROWS_AS(os::listen_unix(dir.path / std::string(200, 'x'), 0600), std::system_error);
}

TEST_CASE("connecting where nobody listens is an error that names the path") {
  temp_dir dir;
  try {
    os::connect_unix(dir.path / "nobody.sock");
    FAIL("connected to nothing");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
    CHECK_THAT(std::string(e.what()), Catch::Contains("nobody.sock"));
  }
}

TEST_CASE("random_hex gives distinct strings of twice the byte count") {
  auto a = os::random_hex(16), b = os::random_hex(16);
  CHECK(a.size() == 32);
  CHECK(a != b);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
}
