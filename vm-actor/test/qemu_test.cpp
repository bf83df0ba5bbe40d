// Tests for the QEMU command line: the flags DESIGN.md requires are there for each accelerator
// and transport.
#include "berth/vm/qemu.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace berth::vm;

namespace {

bool has(const std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  for (std::size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag && argv[i + 1] == value) return true;
  return false;
}

bool has_containing(const std::vector<std::string>& argv, const std::string& needle) {
  return std::any_of(argv.begin(), argv.end(),
                     [&](const std::string& a) { return a.find(needle) != std::string::npos; });
}

vm_config base() {
  vm_config cfg;
  cfg.kernel = "/k/vmlinux";
  cfg.initramfs = "/k/initrd";
  cfg.image_disk = "/d/image.erofs";
  cfg.container_disk = "/d/rootfs.ext4";
  cfg.console_log = "/d/console.log";
  cfg.agent_fd = 7;
  cfg.qmp_fd = 8;
  cfg.tsc_khz = 2300000;
  cfg.cpus = 2;
  cfg.memory_mib = 576;
  return cfg;
}

}  // namespace

TEST_CASE("a TCG microvm caps the translation buffer and tells the guest the TSC rate") {
  auto argv = qemu_argv(base());
  CHECK(argv[0] == "qemu-system-x86_64");
  CHECK(has(argv, "-accel", "tcg,tb-size=64"));
  CHECK(has_containing(argv, "tsc_early_khz=2300000"));
  CHECK(has(argv, "-smp", "2"));
  CHECK(has(argv, "-m", "576M"));
  for (auto flag : {"-nodefaults", "-no-user-config", "-no-reboot"})
    CHECK(std::find(argv.begin(), argv.end(), flag) != argv.end());
  CHECK(has_containing(argv, "microvm"));
}

TEST_CASE("under KVM the guest is not told a TSC rate and uses the host CPU") {
  auto cfg = base();
  cfg.accel = accelerator::kvm;
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-accel", "kvm"));
  CHECK(has(argv, "-cpu", "host"));
  CHECK_FALSE(has_containing(argv, "tsc_early_khz"));
}

TEST_CASE("disks are attached by serial, the image read-only and the rootfs with discard") {
  auto argv = qemu_argv(base());
  CHECK(has(argv, "-drive", "file=/d/image.erofs,if=none,id=image,format=raw,readonly=on"));
  CHECK(has(argv, "-device", "virtio-blk-device,drive=image,serial=image"));
  CHECK(has_containing(argv, "file=/d/rootfs.ext4,if=none,id=rootfs,format=raw,discard=unmap"));
  CHECK(has(argv, "-device", "virtio-blk-device,drive=rootfs,serial=rootfs"));
}

TEST_CASE("virtio-serial carries the agent on a pre-bound socket, with QMP beside it") {
  auto argv = qemu_argv(base());
  CHECK(has(argv, "-chardev", "socket,id=agent,fd=7,server=on,wait=off"));
  CHECK(has(argv, "-device", "virtserialport,chardev=agent,name=berth.agent"));
  CHECK(has(argv, "-chardev", "socket,id=qmp,fd=8,server=on,wait=off"));
  CHECK(has(argv, "-mon", "chardev=qmp,mode=control"));
  CHECK(has_containing(argv, "berth.transport=virtio-serial"));
}

TEST_CASE("vsock replaces the serial port with a vhost-vsock device") {
  auto cfg = base();
  cfg.transport = agent_transport::vsock;
  cfg.vsock_cid = 42;
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-device", "vhost-vsock-device,guest-cid=42"));
  CHECK_FALSE(has_containing(argv, "virtserialport"));
  CHECK(has_containing(argv, "berth.transport=vsock"));
}

TEST_CASE("free page reporting and the console log are always there") {
  auto argv = qemu_argv(base());
  CHECK(has(argv, "-device", "virtio-balloon-device,free-page-reporting=on"));
  CHECK(has(argv, "-chardev", "file,id=console,path=/d/console.log,append=on"));
  CHECK(has(argv, "-serial", "chardev:console"));
}

TEST_CASE("a socket path longer than sun_path is refused with a clear error") {
  auto r = listen_unix(std::string(200, 'x'));
  REQUIRE_FALSE(r);
  CHECK(berth::code_of(r.error()) == berth::errc::invalid_argument);
}

TEST_CASE("volumes become disks with their own serial and host directories 9p shares") {
  auto cfg = base();
  cfg.disks.push_back({"/v/data.ext4", "vol0", false});
  cfg.disks.push_back({"/v/ro.ext4", "vol1", true});
  cfg.shares.push_back({"/srv/www", "share0", true});
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-drive",
            "file=/v/data.ext4,if=none,id=vol0,format=raw,discard=unmap,detect-zeroes=unmap"));
  CHECK(has(argv, "-device", "virtio-blk-device,drive=vol0,serial=vol0"));
  CHECK(has(argv, "-drive",
            "file=/v/ro.ext4,if=none,id=vol1,format=raw,readonly=on,file.locking=off"));
  CHECK(has(argv, "-fsdev", "local,id=fs0,path=/srv/www,security_model=none,readonly=on"));
  CHECK(has(argv, "-device", "virtio-9p-device,fsdev=fs0,mount_tag=share0"));
}
