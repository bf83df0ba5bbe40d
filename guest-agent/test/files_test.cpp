// Tests of root_files directly, for what the host-mode server cannot set up over the wire: a proc
// inside the root, whose magic links (/proc/self/root, /proc/1/root) would lead out of it, and the
// bound on list entries.
#include "files.hpp"
#include "sandbox.hpp"

#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>

using namespace berth;
using namespace berth::agent;
using namespace berth::agent::testing;

namespace {

template <class F>
rpc::error_info error_of(F&& f) {
  try {
    f();
  } catch (const rpc::call_error& e) {
    return e.info();
  }
  return {};
}

}  // namespace

TEST_CASE("magic links of a proc inside the root do not lead out of it") {
  sandbox box;
  box.write("secret", "top secret");
  fs::create_directories(box.dir / "root/proc");
  REQUIRE(::mount("proc", (box.dir / "root/proc").c_str(), "proc", 0, nullptr) == 0);
  fs::create_symlink("/proc/1/root", box.dir / "root/init-root");
  root_files files((box.dir / "root").string());
  std::string secret = (box.dir / "secret").string();

  for (const auto& path : std::vector<std::string>{
           "/proc/self/root" + secret, "/proc/1/root" + secret, "/init-root" + secret}) {
    INFO(path);
    auto read = error_of([&] { files.read(read_request{path, 0, 100}); });
    CHECK(read.code != errc::none);
    auto stat = error_of([&] { files.stat(path); });
    CHECK(stat.code != errc::none);
    write_request w;
    w.path = path;
    w.data = {'x'};
    w.create = true;
    CHECK(error_of([&] { files.write(w); }).code != errc::none);
  }
  // The proc itself is an ordinary directory: /proc/self/status is readable.
  CHECK(error_of([&] {
          files.read(read_request{"/proc/self/status", 0, 100});
        }).code == errc::none);
  std::ifstream in(box.dir / "secret");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text == "top secret");
}

TEST_CASE("list refuses a directory with more entries than one answer may carry") {
  sandbox box;
  for (int i = 0; i < 5; ++i) box.write("root/many/f" + std::to_string(i), "x");
  root_files files((box.dir / "root").string());
  CHECK(files.list("/many", 5).size() == 5);
  auto err = error_of([&] { files.list("/many", 4); });
  CHECK(err.code == errc::invalid_argument);
  CHECK(err.message.find("more than 4 entries") != std::string::npos);
  CHECK(max_list_entries == 65536);
}
