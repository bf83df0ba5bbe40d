// Tests that attack what a layer can put on the host and how much of it: device nodes, setuid
// files and privileged xattrs stay out of other users' reach (checked as uid 65534 in a child
// process), xattrs outside the allow-list are dropped, a root other users could reach is
// refused, and layers over the byte and entry caps fail naming the layer and the limit, leaving
// the root empty.
#include "berth/image/unpack.hpp"

#include "berth/image/digest.hpp"
#include "support.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <cerrno>

using namespace berth;
using namespace berth::image;
using berth::image::test::code;
using berth::image::test::message;
using test::tar_entry;
namespace fs = std::filesystem;

namespace {

constexpr uid_t nobody = 65534;

// A store and an empty root two levels below a private (mkdtemp, 0700) directory.
struct env_t {
  test::temp_dir tmp;
  content_store store = *content_store::open(tmp / "content");
  fs::path rootfs = tmp / "work" / "rootfs";

  env_t() { fs::create_directories(rootfs); }

  std::vector<descriptor> add(const std::vector<std::vector<tar_entry>>& layers,
                              std::vector<std::string>* diff_ids) {
    std::vector<descriptor> descs;
    for (const auto& entries : layers) {
      auto layer = test::make_layer(entries);
      descriptor d;
      d.media_type = layer.media_type;
      d.digest = sha256_of(layer.bytes);
      d.size = layer.bytes.size();
      REQUIRE(store.ingest_bytes(layer.bytes, d.digest));
      descs.push_back(d);
      diff_ids->push_back(layer.diff_id);
    }
    return descs;
  }

  caf::expected<unpack_stats> unpack(const std::vector<std::vector<tar_entry>>& layers,
                                     const unpack_limits& limits = {}) {
    std::vector<std::string> diff_ids;
    auto descs = add(layers, &diff_ids);
    return unpack_layers(store, descs, rootfs, diff_ids, limits);
  }

  bool root_empty() const { return fs::is_empty(rootfs); }
};

// The errno with which uid and gid 65534 fail to open `path` (O_PATH: only the directories on
// the way are checked), or 0 if it can. Runs in a forked child, which drops to nobody.
int errno_as_nobody(const fs::path& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 || ::setuid(nobody) != 0)
      ::_exit(255);
    int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    ::_exit(fd >= 0 ? 0 : (errno & 0x7f));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A file capability (vfs_cap_data revision 2): cap_net_raw permitted and effective.
std::string net_raw_capability() {
  std::string v(20, '\0');
  uint32_t words[5] = {0x02000001u, 1u << 13, 0, 0, 0};
  for (int i = 0; i < 5; ++i)
    for (int b = 0; b < 4; ++b) v[i * 4 + b] = static_cast<char>((words[i] >> (8 * b)) & 0xff);
  return v;
}

bool has_xattr(const fs::path& p, const char* name) {
  char value[256];
  return ::lgetxattr(p.c_str(), name, value, sizeof value) >= 0;
}

}  // namespace

TEST_CASE("a layer's device node and setuid-root file cannot be reached by another user") {
  if (::geteuid() != 0) BERTH_SKIP("not root: device nodes cannot be made and uids cannot change");
  env_t env;
  tar_entry disk;
  disk.name = "dev/sda";
  disk.kind = tar_entry::blockdev;
  disk.mode = 0666;
  disk.dev_major = 8;
  disk.dev_minor = 0;
  tar_entry mem;
  mem.name = "dev/mem";
  mem.kind = tar_entry::chardev;
  mem.mode = 0666;
  mem.dev_major = 1;
  mem.dev_minor = 1;
  tar_entry suid = test::file("bin/rootshell", "#!/bin/sh\nexec /bin/sh\n", 04755);
  tar_entry sgid = test::file("bin/sgid", "#!/bin/sh\n", 02755);
  auto r = env.unpack({{test::dir("dev", 0755), mem, disk, test::dir("bin", 0755), suid, sgid}});
  REQUIRE(r);
  // They are there, as the image's disk needs them ...
  struct stat st {};
  REQUIRE(::lstat((env.rootfs / "dev/mem").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  REQUIRE(::lstat((env.rootfs / "bin/rootshell").c_str(), &st) == 0);
  CHECK((st.st_mode & 04000) != 0);
  // ... and nobody else gets to them, or even to the root.
  for (auto rel : {"dev/mem", "dev/sda", "bin/rootshell", "bin/sgid", ""}) {
    INFO(rel);
    CHECK(errno_as_nobody(env.rootfs / rel) == EACCES);
  }
  // The check can fail: the same tree opened up is reachable.
  REQUIRE(::chmod(env.tmp.path().c_str(), 0755) == 0);
  REQUIRE(::chmod((env.tmp / "work").c_str(), 0755) == 0);
  CHECK(errno_as_nobody(env.rootfs / "dev/mem") == 0);
}

TEST_CASE("xattrs outside the allow-list are dropped and file capabilities kept") {
  if (::geteuid() != 0) BERTH_SKIP("not root: trusted and security xattrs cannot be set");
  env_t env;
  tar_entry ping = test::file("bin/ping", "x", 0755);
  ping.xattrs = {{"security.capability", net_raw_capability()},
                 {"trusted.berth", "t"},
                 {"trusted.overlay.redirect", "/etc"},
                 {"trusted.overlay.opaque", "y"},
                 {"security.ima", "i"},
                 {"user.note", "kept"}};
  auto r = env.unpack({{ping}});
  REQUIRE(r);
  auto path = env.rootfs / "bin/ping";
  CHECK(has_xattr(path, "security.capability"));
  CHECK(has_xattr(path, "user.note"));
  CHECK_FALSE(has_xattr(path, "trusted.berth"));
  CHECK_FALSE(has_xattr(path, "trusted.overlay.redirect"));
  CHECK_FALSE(has_xattr(path, "trusted.overlay.opaque"));
  CHECK_FALSE(has_xattr(path, "security.ima"));
}

TEST_CASE("unpacking into a root that other users could reach or replace is refused") {
  env_t env;
  auto layer = std::vector<std::vector<tar_entry>>{{test::file("f", "x")}};
  // Every directory above the root open to others: no private one.
  REQUIRE(::chmod(env.tmp.path().c_str(), 0755) == 0);
  REQUIRE(::chmod((env.tmp / "work").c_str(), 0755) == 0);
  auto open = env.unpack(layer);
  CHECK(code(open) == errc::conflict);
  CHECK_THAT(message(open), Catch::Contains("private"));
  CHECK(env.root_empty());
  // A private directory inside one that others may write to (and so rename): refused too.
  REQUIRE(::chmod((env.tmp / "work").c_str(), 0700) == 0);
  REQUIRE(::chmod(env.tmp.path().c_str(), 0777) == 0);
  auto replaceable = env.unpack(layer);
  CHECK(code(replaceable) == errc::conflict);
  CHECK_THAT(message(replaceable), Catch::Contains(env.tmp.path().string()));
  CHECK(env.root_empty());
  // Private and safe above: accepted.
  REQUIRE(::chmod(env.tmp.path().c_str(), 0700) == 0);
  CHECK(env.unpack(layer));
}

TEST_CASE("a layer over the byte cap fails naming the layer and the limit and leaves nothing") {
  env_t env;
  unpack_limits limits;
  limits.max_layer_bytes = 64 * 1024;
  // Zeros compress to almost nothing: the cap is on what they decompress to.
  auto r = env.unpack(
      {{test::file("small", "s")}, {test::file("bomb", std::string(4 << 20, '\0'))}}, limits);
  CHECK(code(r) == errc::invalid_argument);
  CHECK_THAT(message(r), Catch::Contains("layer 1 (sha256:") && Catch::Contains("65536 bytes") &&
                             Catch::Contains("max_layer_bytes"));
  CHECK(env.root_empty());
  // Under the cap, the same kind of layer is fine.
  CHECK(env.unpack({{test::file("fine", std::string(16 * 1024, '\0'))}}, limits));
}

TEST_CASE("a layer over the entry cap, or an image over its own, fails and leaves nothing") {
  env_t env;
  std::vector<tar_entry> many;
  for (int i = 0; i < 20; ++i) many.push_back(test::file("f" + std::to_string(i), "x"));
  unpack_limits limits;
  limits.max_layer_entries = 10;
  auto r = env.unpack({many}, limits);
  CHECK(code(r) == errc::invalid_argument);
  CHECK_THAT(message(r), Catch::Contains("layer 0 (sha256:") &&
                             Catch::Contains("more than 10 entries") &&
                             Catch::Contains("max_layer_entries"));
  CHECK(env.root_empty());

  // Each layer under the per-layer cap, the image over its own.
  limits.max_layer_entries = 100;
  limits.max_image_entries = 30;
  auto image = env.unpack({many, many}, limits);
  CHECK(code(image) == errc::invalid_argument);
  CHECK_THAT(message(image),
             Catch::Contains("layer 1 (sha256:") && Catch::Contains("max_image_entries"));
  CHECK(env.root_empty());
  limits.max_image_entries = 40;
  CHECK(env.unpack({many, many}, limits));
}

TEST_CASE("a single layer applied alone obeys the per-layer caps") {
  env_t env;
  auto layer = test::make_layer({test::file("a", "1"), test::file("b", "2"), test::file("c", "3")});
  test::write_file(env.tmp / "layer", layer.bytes);
  unpack_limits limits;
  limits.max_layer_entries = 2;
  auto r = apply_layer(env.tmp / "layer", layer.media_type, env.rootfs, layer.diff_id, limits);
  CHECK(code(r) == errc::invalid_argument);
  CHECK_THAT(message(r), Catch::Contains("max_layer_entries"));
}
