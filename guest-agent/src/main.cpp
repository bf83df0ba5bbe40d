// main: berth-init, PID 1 of every berth VM, and the same agent on a development host.
//
// As PID 1 (from the initramfs): mount /proc, /sys, /dev, /dev/pts and /run, log to
// /dev/console, load the kernel modules of /lib/modules/load.list, find the transport the kernel
// command line asks for (berth.transport=vsock, else the virtio-serial port "berth.agent"), serve
// berthd until it calls `shutdown`, then power the VM off. PID 1 must never exit: every failure
// ends in a logged power off instead. With berth.poweroff=1 it powers off as soon as it starts
// (the boot floor the benchmark measures).
//
// Anywhere else (host mode, for tests and experiments):
//   berth-init --fd N --root DIR [--transport NAME]
// serves on the already connected stream descriptor N, running processes chrooted in DIR, until
// `shutdown` or the peer hangs up.
#include "boot.hpp"
#include "log.hpp"
#include "mounts.hpp"
#include "users.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>

using namespace berth::agent;

namespace {

constexpr std::chrono::seconds port_timeout{30};

[[noreturn]] void init_main() {
  ::umask(022);
  [[maybe_unused]] int rc = ::chdir("/");
  ::signal(SIGPIPE, SIG_IGN);
  mount_early_filesystems();
  int console = ::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (console >= 0) set_log_fd(console);
  log("%.*s starting at %llu ms", static_cast<int>(agent_version().size()), agent_version().data(),
      static_cast<unsigned long long>(uptime_ms()));
  // berth.poweroff=1: stop right here. The benchmark boots the same kernel, initramfs and
  // devices this way to measure the floor under berth's own boot.
  if (auto off = cmdline_value(read_file("/proc/cmdline"), "berth.poweroff"); off && *off == "1") {
    log("berth.poweroff=1: powering off");
    power_off();
  }

  try {
    int modules = load_modules("/lib/modules");
    log("loaded %d kernel modules at %llu ms", modules,
        static_cast<unsigned long long>(uptime_ms()));

    std::unique_ptr<transport> t;
    auto kind = cmdline_value(read_file("/proc/cmdline"), "berth.transport");
    if (kind && *kind == "vsock") {
      int fd = listen_vsock(vsock_port);
      if (fd < 0) {
        log("cannot listen on vsock port %u: %s; powering off", vsock_port, std::strerror(errno));
        power_off();
      }
      log("listening on vsock port %u at %llu ms", vsock_port,
          static_cast<unsigned long long>(uptime_ms()));
      t = make_listener_transport(fd, "vsock");
    } else {
      if (kind && *kind != "virtio-serial")
        log("unknown berth.transport=%s; using virtio-serial", kind->c_str());
      int fd = open_port(serial_port_name, port_timeout);
      if (fd < 0) {
        log("no virtio-serial port named %.*s appeared in %lld s; is the virtio_console module in "
            "load.list and the virtserialport device on the QEMU command line? powering off",
            static_cast<int>(serial_port_name.size()), serial_port_name.data(),
            static_cast<long long>(port_timeout.count()));
        power_off();
      }
      t = make_port_transport(fd, "virtio-serial");
    }

    server_options opts;
    opts.init = true;
    server srv(std::move(t), opts);
    srv.run();
    log("powering off");
  } catch (const std::exception& e) {
    log("fatal: %s; powering off", e.what());
  }
  power_off();
}

int usage() {
  ::dprintf(2,
            "usage: berth-init --fd N --root DIR [--transport NAME]\n"
            "  (as PID 1 of a berth VM it takes no arguments)\n");
  return 2;
}

int host_main(int argc, char** argv) {
  int fd = -1;
  std::string root;
  std::string name = "virtio-serial";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--fd")
      fd = std::atoi(argv[++i]);
    else if (a == "--root")
      root = argv[++i];
    else if (a == "--transport")
      name = argv[++i];
    else
      return usage();
  }
  if (fd < 0 || root.empty()) return usage();
  server_options opts;
  opts.root = root;
  opts.stop_on_disconnect = true;
  server srv(make_port_transport(fd, name), opts);
  srv.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (::getpid() == 1) init_main();
  try {
    return host_main(argc, argv);
  } catch (const std::exception& e) {
    log("fatal: %s", e.what());
    return 1;
  }
}
