// sandbox: a temporary directory for the agent_core_test tests that mount things, inside a private
// mount namespace of the test process.
//
// The first sandbox moves the test process into a mount namespace of its own (unshare, then
// everything made private), so no mount of a test is ever seen by the host, and all of them
// vanish with the process even if a test dies halfway. Each sandbox still unmounts what is left
// under its directory and removes it. Needs root.
#pragma once

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace berth::agent::testing {

namespace fs = std::filesystem;

/// Mount points at or under `dir`, in the order /proc/self/mountinfo lists them.
inline std::vector<std::string> mounts_under(const fs::path& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  auto prefix = dir.string();
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point ...
    std::size_t pos = 0;
    for (int field = 0; field < 4; ++field) pos = line.find(' ', pos) + 1;
    auto point = line.substr(pos, line.find(' ', pos) - pos);
    if (point == prefix || point.starts_with(prefix + "/")) out.push_back(point);
  }
  return out;
}

/// A temporary directory in the test's private mount namespace.
struct sandbox {
  fs::path dir;

  sandbox() {
    REQUIRE(::geteuid() == 0);
    static const bool private_ns =
        ::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    REQUIRE(private_ns);
    char tmpl[] = "/tmp/berth-mount-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }

  ~sandbox() {
    auto left = mounts_under(dir);
    for (auto it = left.rbegin(); it != left.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  sandbox(const sandbox&) = delete;
  sandbox& operator=(const sandbox&) = delete;

  /// Writes `text` to `rel` under the directory, creating parents.
  void write(const fs::path& rel, std::string_view text) const {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel, std::ios::binary) << text;
  }

  /// Makes `rel` a directory with a fresh tmpfs on it.
  fs::path tmpfs(const fs::path& rel) const {
    fs::create_directories(dir / rel);
    REQUIRE(::mount("tmpfs", (dir / rel).c_str(), "tmpfs", 0, "mode=0755") == 0);
    return dir / rel;
  }
};

}  // namespace berth::agent::testing
