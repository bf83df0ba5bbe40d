// Tests of the file methods (stat, list, read, mkdir, write, symlink, set_times) over the wire in
// host mode (see agent_fixture.hpp), including every way a path or symlink could try to leave the
// container root: a sentinel directory next to the root must never be read or written.
#include "agent_client.hpp"
#include "agent_fixture.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;

namespace {

struct files_fixture : agent_fixture {
  // Calls `m` and returns the error class (none on success).
  template <class T>
  errc code(std::string_view m, const T& arg) {
    return rpc::error_of(client.call(m, arg)).code;
  }

  file_info stat(const std::string& path) {
    return rpc::result_as<file_info>(client.call(method::stat, path_request{path}));
  }

  std::vector<file_info> list(const std::string& path) {
    return rpc::result_as<std::vector<file_info>>(client.call(method::list, path_request{path}));
  }

  read_result read(const std::string& path, uint64_t offset, uint32_t length) {
    return rpc::result_as<read_result>(
        client.call(method::read, read_request{path, offset, length}));
  }

  errc write(const std::string& path, std::string_view data, bool create, uint64_t offset = 0,
             uint32_t mode = 0644, uint32_t uid = 0, uint32_t gid = 0) {
    write_request req;
    req.path = path;
    req.offset = offset;
    req.data.assign(data.begin(), data.end());
    req.create = create;
    req.mode = mode;
    req.uid = uid;
    req.gid = gid;
    return code(method::write, req);
  }

  struct stat host_lstat(const fs::path& rel) {
    struct stat st {};
    REQUIRE(::lstat((root.path / rel).c_str(), &st) == 0);
    return st;
  }
};

file_info named(std::string path, uint32_t mode = 0, uint32_t uid = 0, uint32_t gid = 0,
                int64_t mtime_ns = 0, std::string link = {}) {
  file_info info;
  info.path = std::move(path);
  info.mode = mode;
  info.uid = uid;
  info.gid = gid;
  info.mtime_ns = mtime_ns;
  info.link = std::move(link);
  return info;
}

const file_info* entry(const std::vector<file_info>& list, std::string_view name) {
  for (const auto& e : list)
    if (e.path == name) return &e;
  return nullptr;
}

std::string read_host(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

TEST_CASE("stat reports files, directories and symlinks without following the last one") {
  files_fixture f;
  auto passwd = f.stat("/etc/passwd");
  CHECK(passwd.path == "/etc/passwd");
  CHECK(passwd.type == "file");
  CHECK(passwd.size == fs::file_size(f.root.path / "etc/passwd"));
  CHECK(passwd.uid == 0);
  CHECK(passwd.mtime_ns == mtime_ns(f.host_lstat("etc/passwd")));
  CHECK(f.stat("/bin").type == "dir");
  CHECK(f.stat("/").type == "dir");
  CHECK(f.stat("/tmp").mode == 01777);
  auto sh = f.stat("/bin/sh");
  CHECK(sh.type == "symlink");
  CHECK(sh.link == "busybox");

  CHECK(f.code(method::stat, path_request{"etc/passwd"}) == errc::invalid_argument);
  CHECK(f.code(method::stat, path_request{""}) == errc::invalid_argument);
  CHECK(f.code(method::stat, path_request{"/etc/.."}) == errc::invalid_argument);
  CHECK(f.code(method::stat, path_request{"/nope"}) == errc::not_found);
  CHECK(f.code(method::stat, path_request{"/etc/passwd/x"}) == errc::conflict);
}

TEST_CASE("list gives every entry of a directory by name") {
  files_fixture f;
  auto bin = f.list("/bin");
  REQUIRE(entry(bin, "busybox"));
  CHECK(entry(bin, "busybox")->type == "file");
  REQUIRE(entry(bin, "sh"));
  CHECK(entry(bin, "sh")->type == "symlink");
  CHECK(entry(bin, "sh")->link == "busybox");
  CHECK_FALSE(entry(bin, "."));
  CHECK_FALSE(entry(bin, ".."));
  auto count = static_cast<std::size_t>(
      std::distance(fs::directory_iterator(f.root.path / "bin"), fs::directory_iterator{}));
  CHECK(bin.size() == count);
  CHECK(f.code(method::list, path_request{"/etc/passwd"}) == errc::conflict);
  CHECK(f.code(method::list, path_request{"/nope"}) == errc::not_found);
}

TEST_CASE("read returns a regular file in chunks and says where it ends") {
  files_fixture f;
  std::string data(3000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13);
  write_text(f.root.path / "data", data);
  auto a = f.read("/data", 0, 1000);
  CHECK(std::string(a.data.begin(), a.data.end()) == data.substr(0, 1000));
  CHECK_FALSE(a.eof);
  auto b = f.read("/data", 2000, 1000);
  CHECK(std::string(b.data.begin(), b.data.end()) == data.substr(2000));
  CHECK(b.eof);
  auto c = f.read("/data", 2500, 1000);
  CHECK(c.data.size() == 500);
  CHECK(c.eof);
  auto d = f.read("/data", 5000, 1000);
  CHECK(d.data.empty());
  CHECK(d.eof);

  write_text(f.root.path / "big", std::string(3u << 19, 'b'));  // 1.5 MiB
  auto capped = f.read("/big", 0, 2u << 20);
  CHECK(capped.data.size() == (1u << 20));
  CHECK_FALSE(capped.eof);

  REQUIRE(::mkfifo((f.root.path / "tmp/fifo").c_str(), 0666) == 0);
  CHECK(f.code(method::read, read_request{"/tmp/fifo", 0, 10}) == errc::conflict);
  CHECK(f.code(method::read, read_request{"/bin", 0, 10}) == errc::conflict);
  CHECK(f.code(method::read, read_request{"/nope", 0, 10}) == errc::not_found);
}

TEST_CASE("write creates, continues and truncates a file with its mode and owner") {
  files_fixture f;
  CHECK(f.write("/tmp/new", "hello", true, 0, 0640, 1000, 50) == errc::none);
  CHECK(f.write("/tmp/new", " world", false, 5) == errc::none);
  CHECK(read_host(f.root.path / "tmp/new") == "hello world");
  auto st = f.host_lstat("tmp/new");
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 50);
  CHECK(f.write("/tmp/new", "x", true, 0, 0600) == errc::none);
  CHECK(read_host(f.root.path / "tmp/new") == "x");
  CHECK((f.host_lstat("tmp/new").st_mode & 07777) == 0600);

  CHECK(f.write("/tmp/missing", "x", false) == errc::not_found);
  CHECK(f.write("/no/dir/file", "x", true) == errc::not_found);
  CHECK(f.write("/tmp", "x", true) == errc::conflict);
  CHECK(f.write("/bin/sh", "x", true) == errc::conflict);  // a symlink: not written through
  CHECK(f.write("/bin/sh", "x", false) == errc::conflict);
  CHECK(f.write("tmp/rel", "x", true) == errc::invalid_argument);
  CHECK(f.host_lstat("bin/busybox").st_size > 1000);
}

TEST_CASE("mkdir creates a directory with mode, owner and time, and takes an existing one") {
  files_fixture f;
  int64_t when = 1'600'000'000'123'456'789;
  CHECK(f.code(method::mkdir, named("/srv", 0750, 1000, 1000, when)) == errc::none);
  auto st = f.host_lstat("srv");
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0750);
  CHECK(st.st_uid == 1000);
  CHECK(mtime_ns(st) == when);
  CHECK(f.code(method::mkdir, named("/srv", 02700, 0, 0)) == errc::none);
  st = f.host_lstat("srv");
  CHECK((st.st_mode & 07777) == 02700);
  CHECK(st.st_uid == 0);
  CHECK(mtime_ns(st) == when);  // mtime_ns 0 leaves the times alone

  CHECK(f.code(method::mkdir, named("/a/b/c", 0755)) == errc::not_found);
  CHECK(f.code(method::mkdir, named("/etc/passwd", 0755)) == errc::conflict);
  CHECK(f.code(method::mkdir, named("/bin/sh", 0755)) == errc::conflict);
}

TEST_CASE("symlink creates or replaces a link owned as asked") {
  files_fixture f;
  CHECK(f.code(method::symlink, named("/tmp/l", 0, 1000, 50, 0, "/etc/passwd")) == errc::none);
  auto st = f.host_lstat("tmp/l");
  CHECK(S_ISLNK(st.st_mode));
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 50);
  CHECK(fs::read_symlink(f.root.path / "tmp/l") == "/etc/passwd");
  write_text(f.root.path / "tmp/file", "x");
  CHECK(f.code(method::symlink, named("/tmp/file", 0, 0, 0, 0, "elsewhere")) == errc::none);
  CHECK(fs::read_symlink(f.root.path / "tmp/file") == "elsewhere");
  CHECK(f.code(method::symlink, named("/tmp/l", 0, 0, 0, 0, "again")) == errc::none);
  CHECK(fs::read_symlink(f.root.path / "tmp/l") == "again");
  CHECK(f.code(method::symlink, named("/tmp", 0, 0, 0, 0, "x")) == errc::conflict);
  CHECK(f.code(method::symlink, named("/tmp/empty", 0, 0, 0, 0, "")) == errc::invalid_argument);
}

TEST_CASE("set_times sets the times of the path itself, a symlink included") {
  files_fixture f;
  int64_t when = 1'500'000'000'000'000'001;
  auto target_before = mtime_ns(f.host_lstat("bin/busybox"));
  CHECK(f.code(method::set_times, named("/bin/sh", 0, 0, 0, when)) == errc::none);
  CHECK(mtime_ns(f.host_lstat("bin/sh")) == when);
  CHECK(mtime_ns(f.host_lstat("bin/busybox")) == target_before);
  CHECK(f.code(method::set_times, named("/etc/passwd", 0, 0, 0, when)) == errc::none);
  CHECK(mtime_ns(f.host_lstat("etc/passwd")) == when);
  CHECK(f.stat("/etc/passwd").mtime_ns == when);
  CHECK(f.code(method::set_times, named("/nope", 0, 0, 0, when)) == errc::not_found);
}

TEST_CASE("no path or symlink leads out of the container root") {
  files_fixture f;
  // The sentinel: a directory beside the root, with a secret in it.
  fs::path outside = f.root.path.string() + ".outside";
  fs::create_directories(outside);
  write_text(outside / "secret", "top secret");
  struct guard {
    fs::path p;
    ~guard() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{outside};
  auto secret_mtime = [&] {
    struct stat st {};
    REQUIRE(::lstat((outside / "secret").c_str(), &st) == 0);
    return mtime_ns(st);
  };
  auto before = secret_mtime();
  std::string host_secret = (outside / "secret").string();  // absolute on the host
  fs::create_symlink("/", f.root.path / "escape");
  fs::create_symlink("../../../../../..", f.root.path / "up");
  fs::create_symlink(host_secret, f.root.path / "abs");
  fs::create_symlink(outside, f.root.path / "absdir");

  // Reading through `..`, a relative symlink climbing out, an absolute one: all inside.
  CHECK(f.code(method::read, read_request{"/../../../.." + host_secret, 0, 100}) ==
        errc::not_found);
  CHECK(f.code(method::read, read_request{"/up" + host_secret, 0, 100}) == errc::not_found);
  CHECK(f.code(method::read, read_request{"/abs", 0, 100}) == errc::not_found);
  CHECK(f.code(method::stat, path_request{"/absdir/secret"}) == errc::not_found);
  CHECK(f.code(method::list, path_request{"/absdir"}) == errc::not_found);
  for (const char* top : {"/escape", "/up", "/escape/..", "/up/../.."}) {
    INFO(top);
    auto names = f.list(top);
    CHECK(entry(names, "bin"));
    CHECK(entry(names, "escape"));
  }

  // Writing: through the symlink refused, elsewhere the parent is not there inside the root.
  CHECK(f.write("/abs", "owned", true) == errc::conflict);
  CHECK(f.write("/absdir/secret", "owned", true) == errc::not_found);
  CHECK(f.write("/up" + host_secret, "owned", true) == errc::not_found);
  CHECK(f.write("/../../.." + host_secret, "owned", false) == errc::not_found);
  CHECK(f.code(method::mkdir, named("/absdir/made", 0755)) == errc::not_found);
  CHECK(f.code(method::mkdir, named("/escape/made", 0755)) == errc::none);
  CHECK(fs::is_directory(f.root.path / "made"));
  CHECK(f.code(method::symlink, named("/absdir/link", 0, 0, 0, 0, "/")) == errc::not_found);
  CHECK(f.code(method::set_times, named("/abs", 0, 0, 0, 1'000'000'000)) == errc::none);
  CHECK(mtime_ns(f.host_lstat("abs")) == 1'000'000'000);

  // The sentinel is as it was.
  CHECK(read_host(outside / "secret") == "top secret");
  CHECK(secret_mtime() == before);
  CHECK(static_cast<std::size_t>(
            std::distance(fs::directory_iterator(outside), fs::directory_iterator{})) == 1);
}

TEST_CASE("file methods without a container root are a conflict") {
  agent_fixture f(via::port, false);
  auto msg = f.client.call(method::stat, path_request{"/"});
  CHECK(rpc::error_of(msg).code == errc::conflict);
  CHECK(rpc::error_of(f.client.call(method::list, path_request{"/"})).code == errc::conflict);
}
