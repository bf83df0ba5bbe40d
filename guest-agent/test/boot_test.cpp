// Tests for the boot helpers: load.list, the kernel command line, finding the agent's port and
// the disks by name in sysfs-shaped directories, and the vsock listener.
#include "boot.hpp"
#include "mounts.hpp"

#include "berth/rpc/codec.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

using namespace berth::agent;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/berth-boot-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const fs::path& rel, std::string_view text) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel) << text;
  }
};

}  // namespace

TEST_CASE("load.list gives one module per line, in order, without blanks and comments") {
  auto list = parse_load_list("virtio.ko\n\n# the ring\n  virtio_ring.ko \r\nvirtio_mmio.ko");
  CHECK(list == std::vector<std::string>{"virtio.ko", "virtio_ring.ko", "virtio_mmio.ko"});
  CHECK(parse_load_list("").empty());
}

TEST_CASE("a kernel command line key is found with or without a value") {
  std::string_view line = "console=ttyS0 quiet berth.transport=vsock panic=-1\n";
  CHECK(cmdline_value(line, "berth.transport") == "vsock");
  CHECK(cmdline_value(line, "quiet") == "");
  CHECK_FALSE(cmdline_value(line, "berth"));
  CHECK_FALSE(cmdline_value(line, "berth.transport.x"));
  CHECK(cmdline_value("a=1 a=2", "a") == "2");
}

TEST_CASE("the agent port is found by its name among the virtio ports") {
  temp_dir dir;
  dir.write("vport0p0/name", "org.qemu.guest_agent.0\n");
  dir.write("vport1p1/name", "berth.agent\n");
  CHECK(find_port(dir.path.string(), "berth.agent") == "vport1p1");
  CHECK(find_port(dir.path.string(), "berth.other").empty());
  CHECK(find_port((dir.path / "missing").string(), "berth.agent").empty());
}

TEST_CASE("disks are found by their virtio serial") {
  temp_dir dir;
  dir.write("vda/serial", "rootfs\n");
  dir.write("vdb/serial", "image");
  dir.write("sda/serial", "image");
  CHECK(find_disk_by_serial(dir.path.string(), "image") == "vdb");
  CHECK(find_disk_by_serial(dir.path.string(), "rootfs") == "vda");
  CHECK(find_disk_by_serial(dir.path.string(), "data").empty());
}

TEST_CASE("mount_root names a missing serial in a not_found error") {
  temp_dir dir;
  dir.write("vda/serial", "rootfs\n");
  root_stack stack((dir.path / "run").string());
  try {
    mount_spec spec;
    stack.mount(spec, dir.path.string());
    FAIL("mounted without an image disk");
  } catch (const berth::rpc::call_error& e) {
    CHECK(e.code() == berth::errc::not_found);
    CHECK(std::string(e.what()).find("\"image\"") != std::string::npos);
  }
  CHECK_FALSE(stack.mounted());
}

TEST_CASE("listen_vsock gives a listening socket where the kernel has AF_VSOCK") {
  int fd = listen_vsock(40000 + static_cast<uint32_t>(::getpid() % 20000));
  if (fd < 0 && (errno == EAFNOSUPPORT || errno == ENODEV)) {
    BERTH_SKIP("no AF_VSOCK on this kernel");
  }
  REQUIRE(fd >= 0);
  int listening = 0;
  socklen_t len = sizeof listening;
  CHECK(::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0);
  CHECK(listening == 1);
  CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  ::close(fd);
}
