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
  CHECK(has(argv, "-fsdev", "local,id=fs0,path=/srv/www,security_model=mapped-xattr,readonly=on"));
  CHECK(has(argv, "-device", "virtio-9p-device,fsdev=fs0,mount_tag=share0"));
  CHECK_FALSE(has_containing(argv, "security_model=none"));
}

TEST_CASE("a comma in a host path cannot add options to QEMU's option list") {
  auto cfg = base();
  cfg.shares.push_back({"/srv/a,readonly=on", "share0", false});
  cfg.disks.push_back({"/v/x,readonly=off,file=/etc/shadow", "vol0", true});
  cfg.console_log = "/d,x/console.log";
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-fsdev", "local,id=fs0,path=/srv/a,,readonly=on,security_model=mapped-xattr"));
  CHECK(has(argv, "-drive",
            "file=/v/x,,readonly=off,,file=/etc/shadow,if=none,id=vol0,format=raw,readonly=on,"
            "file.locking=off"));
  CHECK(has(argv, "-chardev", "file,id=console,path=/d,,x/console.log,append=on"));
  CHECK(qemu_option_value("a,,b") == "a,,,,b");
}

TEST_CASE("a jailed QEMU gets its disks, console, tap and vsock device as fds") {
  auto cfg = base();
  cfg.transport = agent_transport::vsock;
  cfg.image_fd = 20;
  cfg.container_fd = 21;
  cfg.console_fd = 22;
  cfg.vhost_vsock_fd = 23;
  cfg.container_fd_ro = 26;
  cfg.disks.push_back({"/v/data.ext4", "vol0", false, 24, 27});
  cfg.nics.push_back({"berth0", "02:00:00:00:00:01", {}, 25});
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-add-fd", "fd=22,set=1,opaque=/d/console.log"));
  CHECK(has(argv, "-chardev", "file,id=console,path=/dev/fdset/1,append=on"));
  CHECK(has(argv, "-add-fd", "fd=20,set=2"));
  CHECK(has_containing(argv, "file=/dev/fdset/2,if=none,id=image"));
  CHECK(has(argv, "-add-fd", "fd=21,set=3"));
  CHECK(has(argv, "-add-fd", "fd=26,set=3"));
  CHECK(has_containing(argv, "file=/dev/fdset/3,if=none,id=rootfs"));
  CHECK(has(argv, "-add-fd", "fd=24,set=4"));
  CHECK(has(argv, "-add-fd", "fd=27,set=4"));
  CHECK(has_containing(argv, "file=/dev/fdset/4,if=none,id=vol0"));
  CHECK(has(argv, "-netdev", "tap,id=n0,fd=25"));
  CHECK(has_containing(argv, "vhostfd=23"));
  // No path QEMU would have to open itself.
  CHECK_FALSE(has_containing(argv, "/d/image.erofs"));
  CHECK_FALSE(has_containing(argv, "/d/rootfs.ext4"));
  CHECK_FALSE(has_containing(argv, "/v/data.ext4"));
  CHECK_FALSE(has_containing(argv, "ifname="));
}

TEST_CASE("the agent key reaches the guest by fw_cfg from its file, never on the command line") {
  auto cfg = base();
  cfg.agent_key = agent_key_file("/run/berth/0123456789ab");
  CHECK(cfg.agent_key == "/run/berth/0123456789ab/agent.key");
  auto argv = qemu_argv(cfg);
  CHECK(has(argv, "-fw_cfg", "name=opt/berth/agent-key,file=/run/berth/0123456789ab/agent.key"));
  // A comma in the path cannot add options to -fw_cfg.
  cfg.agent_key = "/run/a,string=x/agent.key";
  CHECK(has(qemu_argv(cfg), "-fw_cfg", "name=opt/berth/agent-key,file=/run/a,,string=x/agent.key"));
  CHECK_FALSE(has_containing(qemu_argv(base()), "-fw_cfg"));
}
