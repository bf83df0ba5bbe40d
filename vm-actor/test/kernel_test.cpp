// Tests for kernel preparation: module resolution honours modules.dep, softdeps through
// aliases and builtins; a bzImage yields a bootable vmlinux.
#include "berth/vm/kernel.hpp"

#include "berth/actors/testing/temp_dir.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace berth;
using namespace berth::vm;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::vector<std::string> names(const std::vector<fs::path>& paths) {
  std::vector<std::string> out;
  for (auto& p : paths) out.push_back(p.filename().string());
  return out;
}

const fs::path installed_kernel = "/var/cache/berth/kernel/default";

}  // namespace

TEST_CASE("modules come after their dependencies, each once") {
  berth::testing::temp_dir d;
  write(d.path / "modules.dep",
        "kernel/a.ko: kernel/b.ko kernel/c.ko\n"
        "kernel/b.ko: kernel/c.ko\n"
        "kernel/c.ko:\n"
        "kernel/d-x.ko: kernel/c.ko\n");
  auto r = resolve_modules(d.path, {"a", "d_x", "b"});
  REQUIRE(r);
  CHECK(names(*r) == std::vector<std::string>{"c.ko", "b.ko", "a.ko", "d-x.ko"});
}

TEST_CASE("a pre-softdep is resolved through modules.alias to every module providing it") {
  berth::testing::temp_dir d;
  write(d.path / "modules.dep", "kernel/fs.ko:\nkernel/crc_fast.ko:\nkernel/crc_slow.ko:\n");
  write(d.path / "modules.softdep", "softdep fs pre: crypto-crc\n");
  write(d.path / "modules.alias", "alias crypto-crc crc_fast\nalias crypto-crc crc_slow\n");
  auto r = resolve_modules(d.path, {"fs"});
  REQUIRE(r);
  CHECK(names(*r) == std::vector<std::string>{"crc_fast.ko", "crc_slow.ko", "fs.ko"});
}

TEST_CASE("a builtin module is skipped and an unknown one is not_found") {
  berth::testing::temp_dir d;
  write(d.path / "modules.dep", "kernel/a.ko:\n");
  write(d.path / "modules.builtin", "kernel/virtio.ko\n");
  auto r = resolve_modules(d.path, {"virtio", "a"});
  REQUIRE(r);
  CHECK(names(*r) == std::vector<std::string>{"a.ko"});
  auto missing = resolve_modules(d.path, {"nosuch"});
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == errc::not_found);
}

TEST_CASE("the installed Debian kernel resolves every guest module and unpacks to a vmlinux") {
  if (!fs::exists(installed_kernel)) {
    BERTH_SKIP("no kernel at " << installed_kernel << " (scripts/install-deps.sh fetches it)");
  }
  auto info = prepare_kernel(installed_kernel, fs::path(BERTH_TEST_CACHE));
  REQUIRE(info);
  CHECK_FALSE(info->release.empty());
  CHECK(kernel_release(info->image) == info->release);
  CHECK(info->boot_image.filename() == "vmlinux");
  CHECK(kernel_release(info->boot_image) == info->release);
  auto mods = resolve_modules(info->modules_dir, guest_modules(false));
  REQUIRE(mods);
  auto n = names(*mods);
  auto pos = [&](const std::string& m) { return std::find(n.begin(), n.end(), m) - n.begin(); };
  CHECK(pos("virtio.ko") < pos("virtio_mmio.ko"));
  CHECK(pos("jbd2.ko") < pos("ext4.ko"));
  CHECK(pos("crc32c_generic.ko") < pos("ext4.ko"));
  CHECK(pos("virtio_console.ko") < static_cast<long>(n.size()));
}
