// End-to-end: berth cp with docker cp's rules, between the host and one running container (one
// VM boot for the whole file): files and directories in both directions with modes, mtimes,
// symlinks and owners kept, "dir/." copying contents, tar streams on stdin and stdout, and the
// error cases (a missing destination directory, a directory onto a file, an unknown or stopped
// container).
#include "e2e.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>

using namespace berth::e2e;

namespace {

// 2020-09-13T12:26:40.123456789Z and 2021-01-01T00:00:00.5Z: mtimes that survive only if kept.
constexpr int64_t file_mtime = 1600000000123456789;
constexpr int64_t dir_mtime = 1609459200500000000;

// The running container every case shares, started on first use.
const std::string& box() {
  static const std::string name = [] {
    daemon::get().ok({"run", "-d", "--name", "cpbox", "busybox", "sleep", "100000"});
    return std::string("cpbox");
  }();
  return name;
}

// A fresh directory on the host for one case.
fs::path scratch(const std::string& name) {
  auto dir = daemon::get().root() / "cp" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void set_mtime(const fs::path& p, int64_t ns) {
  timespec ts[2] = {{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)},
                    {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

struct stat lstat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

int64_t mtime_of(const fs::path& p) {
  auto st = lstat_of(p);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::string read_all(const fs::path& p) {
  return berth::os::read_file(p, 64u << 20);
}

void write_file(const fs::path& p, const std::string& data, mode_t mode) {
  std::ofstream(p, std::ios::binary) << data;
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

// A tree with a 0750 directory, a nested directory, a file of several chunks and two symlinks.
fs::path make_tree(const fs::path& at, std::string* big_out = nullptr) {
  auto src = at / "src";
  fs::create_directories(src / "sub");
  write_file(src / "a.txt", "alpha\n", 0600);
  std::string big(700 * 1024 + 17, '\0');
  std::mt19937 rng(42);
  for (auto& c : big) c = static_cast<char>(rng());
  write_file(src / "sub" / "big.bin", big, 0644);
  fs::create_symlink("a.txt", src / "link");
  fs::create_symlink("/etc/passwd", src / "abs");
  set_mtime(src / "a.txt", file_mtime);
  set_mtime(src / "sub" / "big.bin", file_mtime);
  set_mtime(src / "link", file_mtime);
  REQUIRE(::chmod((src / "sub").c_str(), 0755) == 0);
  REQUIRE(::chmod(src.c_str(), 0750) == 0);
  set_mtime(src / "sub", dir_mtime);
  set_mtime(src, dir_mtime);
  if (big_out) *big_out = big;
  return src;
}

// `berth cp` with stdin or stdout on a file (-1: /dev/null, captured).
berth::os::run_result cp_with_fds(const std::vector<std::string>& args, int stdin_fd,
                                  int stdout_fd) {
  auto& d = daemon::get();
  std::vector<std::string> argv = {(bin_dir() / "berth").string(), "-H",
                                   "unix://" + (d.root() / "berthd.sock").string(), "cp"};
  argv.insert(argv.end(), args.begin(), args.end());
  return berth::os::run(argv, std::chrono::seconds(180), 1u << 20, stdin_fd, stdout_fd);
}

}  // namespace

TEST_CASE("a file copied in keeps content, mode and mtime, belongs to root, and comes back out") {
  auto& d = daemon::get();
  auto dir = scratch("file");
  write_file(dir / "f.txt", "hello from the host\n", 0640);
  REQUIRE(::chown((dir / "f.txt").c_str(), 1234, 5678) == 0);
  set_mtime(dir / "f.txt", file_mtime);

  // Into an existing directory under its own name, and to a new name.
  d.ok({"cp", (dir / "f.txt").string(), box() + ":/tmp"});
  d.ok({"cp", (dir / "f.txt").string(), box() + ":/tmp/renamed.txt"});
  CHECK(d.ok({"exec", box(), "cat", "/tmp/f.txt"}) == "hello from the host\n");
  CHECK(d.ok({"exec", box(), "stat", "-c", "%a %u:%g %Y", "/tmp/f.txt", "/tmp/renamed.txt"}) ==
        "640 0:0 1600000000\n640 0:0 1600000000\n");
  // -a keeps the host's owner.
  d.ok({"cp", "-a", (dir / "f.txt").string(), box() + ":/tmp/owned.txt"});
  CHECK(d.ok({"exec", box(), "stat", "-c", "%u:%g", "/tmp/owned.txt"}) == "1234:5678\n");
  // An existing file is replaced.
  write_file(dir / "g.txt", "second\n", 0644);
  d.ok({"cp", (dir / "g.txt").string(), box() + ":/tmp/renamed.txt"});
  CHECK(d.ok({"exec", box(), "cat", "/tmp/renamed.txt"}) == "second\n");

  // Out, into a directory and to a new name; the nanoseconds of the mtime survive both ways.
  auto out = scratch("file-out");
  d.ok({"cp", box() + ":/tmp/f.txt", out.string()});
  CHECK(read_all(out / "f.txt") == "hello from the host\n");
  CHECK((lstat_of(out / "f.txt").st_mode & 07777) == 0640);
  CHECK(mtime_of(out / "f.txt") == file_mtime);
  d.ok({"cp", box() + ":/etc/hostname", (out / "hn").string()});
  CHECK(read_all(out / "hn") == d.ok({"exec", box(), "cat", "/etc/hostname"}));
  // Without -a the copy belongs to whoever ran cp; with -a to the container's owner.
  d.ok({"cp", box() + ":/tmp/owned.txt", (out / "mine.txt").string()});
  CHECK(lstat_of(out / "mine.txt").st_uid == ::getuid());
  d.ok({"cp", "-a", box() + ":/tmp/owned.txt", (out / "theirs.txt").string()});
  CHECK(lstat_of(out / "theirs.txt").st_uid == 1234);
  CHECK(lstat_of(out / "theirs.txt").st_gid == 5678);
}

TEST_CASE("a directory with symlinks, a 0750 mode and mtimes survives a round trip") {
  auto& d = daemon::get();
  auto dir = scratch("tree");
  std::string big;
  auto src = make_tree(dir, &big);

  // Into an existing directory, and as a new directory.
  d.ok({"cp", src.string(), box() + ":/tmp"});
  d.ok({"cp", src.string(), box() + ":/srv-copy"});
  for (std::string root : {"/tmp/src", "/srv-copy"}) {
    CHECK(d.ok({"exec", box(), "stat", "-c", "%a %u:%g %Y", root, root + "/a.txt",
                root + "/sub"}) == "750 0:0 1609459200\n600 0:0 1600000000\n755 0:0 1609459200\n");
    CHECK(d.ok({"exec", box(), "readlink", root + "/link"}) == "a.txt\n");
    CHECK(d.ok({"exec", box(), "readlink", root + "/abs"}) == "/etc/passwd\n");
    CHECK(d.ok({"exec", box(), "cat", root + "/link"}) == "alpha\n");
  }
  auto sums = berth::os::run({"md5sum", (src / "sub" / "big.bin").string()});
  CHECK(d.ok({"exec", box(), "md5sum", "/tmp/src/sub/big.bin"}).substr(0, 32) ==
        sums.output.substr(0, 32));

  // Back out: into an existing directory, and as a new one.
  auto out = scratch("tree-out");
  d.ok({"cp", box() + ":/tmp/src", out.string()});
  d.ok({"cp", box() + ":/srv-copy", (out / "again").string()});
  for (auto root : {out / "src", out / "again"}) {
    CHECK((lstat_of(root).st_mode & 07777) == 0750);
    CHECK(mtime_of(root) == dir_mtime);
    CHECK(mtime_of(root / "sub") == dir_mtime);
    CHECK((lstat_of(root / "a.txt").st_mode & 07777) == 0600);
    CHECK(mtime_of(root / "a.txt") == file_mtime);
    CHECK(read_all(root / "sub" / "big.bin") == big);
    REQUIRE(fs::is_symlink(root / "link"));
    CHECK(fs::read_symlink(root / "link") == "a.txt");
    CHECK(mtime_of(root / "link") == file_mtime);
    // The container's absolute symlink stays a symlink: nothing of it is followed on the host.
    REQUIRE(fs::is_symlink(root / "abs"));
    CHECK(fs::read_symlink(root / "abs") == "/etc/passwd");
  }
  // -L copies what a symlink points to instead of the link.
  d.ok({"cp", "-L", box() + ":/tmp/src/link", (out / "followed").string()});
  CHECK_FALSE(fs::is_symlink(out / "followed"));
  CHECK(read_all(out / "followed") == "alpha\n");
}

TEST_CASE("dir/. copies the contents of a directory, not the directory") {
  auto& d = daemon::get();
  auto src = make_tree(scratch("contents"));
  d.ok({"exec", box(), "mkdir", "-p", "/tmp/contents"});
  d.ok({"cp", src.string() + "/.", box() + ":/tmp/contents"});
  CHECK(d.ok({"exec", box(), "ls", "/tmp/contents"}) == "a.txt\nabs\nlink\nsub\n");
  // The destination keeps its own mode.
  CHECK(d.ok({"exec", box(), "stat", "-c", "%a", "/tmp/contents"}) == "755\n");

  auto out = scratch("contents-out");
  d.ok({"cp", box() + ":/tmp/contents/.", out.string()});
  CHECK(fs::exists(out / "a.txt"));
  CHECK(fs::is_symlink(out / "link"));
  CHECK(fs::exists(out / "sub" / "big.bin"));
  CHECK_FALSE(fs::exists(out / "contents"));
}

TEST_CASE("cp - streams a tar archive out to stdout and in from stdin") {
  auto& d = daemon::get();
  auto dir = scratch("tar");
  auto src = make_tree(dir);
  d.ok({"cp", src.string(), box() + ":/tmp/tarred"});

  auto archive = dir / "out.tar";
  {
    berth::os::unique_fd fd(
        ::open(archive.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    auto r = cp_with_fds({box() + ":/tmp/tarred", "-"}, -1, fd.get());
    INFO(r.errors);
    REQUIRE(r.exit_code == 0);
  }
  auto listing = berth::os::run({"tar", "-tvf", archive.string()});
  INFO(listing.output << listing.errors);
  REQUIRE(listing.exit_code == 0);
  CHECK(listing.output.find("drwxr-x---") != std::string::npos);
  CHECK(listing.output.find(" tarred/\n") != std::string::npos);
  CHECK(listing.output.find(" tarred/a.txt\n") != std::string::npos);
  CHECK(listing.output.find(" tarred/link -> a.txt\n") != std::string::npos);
  CHECK(listing.output.find(" tarred/sub/big.bin\n") != std::string::npos);
  CHECK(berth::os::run({"tar", "-xOf", archive.string(), "tarred/a.txt"}).output == "alpha\n");

  // In: a tar made by tar(1), with a file, a directory, a symlink and an entry whose parent the
  // archive does not list.
  auto in = dir / "in";
  fs::create_directories(in / "deep" / "er");
  write_file(in / "top.txt", "top\n", 0755);
  write_file(in / "deep" / "er" / "leaf.txt", "leaf\n", 0644);
  fs::create_symlink("top.txt", in / "ln");
  auto made = berth::os::run({"tar", "-C", in.string(), "-cf", (dir / "in.tar").string(), "top.txt",
                              "ln", "deep/er/leaf.txt"});
  REQUIRE(made.exit_code == 0);
  d.ok({"exec", box(), "mkdir", "/tmp/fromtar"});
  {
    berth::os::unique_fd fd(::open((dir / "in.tar").c_str(), O_RDONLY | O_CLOEXEC));
    auto r = cp_with_fds({"-", box() + ":/tmp/fromtar"}, fd.get(), -1);
    INFO(r.errors);
    REQUIRE(r.exit_code == 0);
  }
  CHECK(d.ok({"exec", box(), "cat", "/tmp/fromtar/top.txt", "/tmp/fromtar/ln",
              "/tmp/fromtar/deep/er/leaf.txt"}) == "top\ntop\nleaf\n");
  CHECK(d.ok({"exec", box(), "stat", "-c", "%a %u", "/tmp/fromtar/top.txt"}) == "755 0\n");
  // The destination of a tar stream must be a directory.
  berth::os::unique_fd again(::open((dir / "in.tar").c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(cp_with_fds({"-", box() + ":/tmp/fromtar/top.txt"}, again.get(), -1).exit_code == 1);
}

TEST_CASE("cp refuses what docker cp refuses, with exit code 1") {
  auto& d = daemon::get();
  auto dir = scratch("errors");
  write_file(dir / "f.txt", "x\n", 0644);
  auto src = make_tree(dir);
  box();

  auto missing_parent = d.berth({"cp", (dir / "f.txt").string(), box() + ":/no/such/dir/f.txt"});
  CHECK(missing_parent.code == 1);
  CHECK(missing_parent.err.find("/no/such/dir") != std::string::npos);
  CHECK(d.berth({"exec", box(), "ls", "/no"}).code != 0);
  CHECK(d.berth({"cp", (dir / "f.txt").string(), box() + ":/tmp/not-there/"}).code == 1);

  d.ok({"cp", (dir / "f.txt").string(), box() + ":/tmp/plain"});
  auto onto_file = d.berth({"cp", src.string(), box() + ":/tmp/plain"});
  CHECK(onto_file.code == 1);
  CHECK(onto_file.err.find("cannot copy a directory to a file") != std::string::npos);

  auto no_source = d.berth({"cp", box() + ":/does/not/exist", dir.string()});
  CHECK(no_source.code == 1);
  CHECK(no_source.err.find("Could not find the file /does/not/exist") != std::string::npos);
  CHECK(d.berth({"cp", box() + ":/etc/hostname", (dir / "missing" / "x").string()}).code == 1);
  CHECK_FALSE(fs::exists(dir / "missing"));

  auto unknown = d.berth({"cp", (dir / "f.txt").string(), "nosuchbox:/tmp"});
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("No such container: nosuchbox") != std::string::npos);
  CHECK(d.berth({"cp", "nosuchbox:/etc/hostname", dir.string()}).code == 1);
  CHECK(d.berth({"cp", (dir / "f.txt").string(), (dir / "g.txt").string()}).code == 1);

  d.ok({"create", "--name", "cpstopped", "busybox", "true"});
  auto stopped = d.berth({"cp", (dir / "f.txt").string(), "cpstopped:/tmp"});
  CHECK(stopped.code == 1);
  CHECK(stopped.err.find("container cpstopped is not running; berth cp needs its VM") !=
        std::string::npos);
  d.ok({"rm", "cpstopped"});
}

TEST_CASE("the shared container is removed at the end") {
  auto& d = daemon::get();
  d.ok({"rm", "-f", box()});
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
}
