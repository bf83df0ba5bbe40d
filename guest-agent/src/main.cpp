// main: berth-init, PID 1 of every berth VM, and the same agent on a development host.
//
// As PID 1 (from the initramfs): mount /proc, /sys, /dev, /dev/pts and /run, log to
// /dev/console, load the kernel modules of /lib/modules/load.list, read the agent key from fw_cfg
// (opt/berth/agent-key; without it nobody is served and the VM powers off), find the transport the
// kernel command line asks for (berth.transport=vsock, else the virtio-serial port "berth.agent"),
// serve berthd, which proves the key on every connection, until it calls `shutdown`, then power
// the VM off. PID 1 must never exit: every failure
// ends in a logged power off instead. With berth.poweroff=1 it powers off as soon as it starts
// (the boot floor the benchmark measures).
//
// Anywhere else (host mode, for tests and experiments):
//   berth-init --fd N --root DIR [--transport NAME] [--key-file PATH]
// serves on the already connected stream descriptor N, running processes chrooted in DIR, until
// `shutdown` or the peer hangs up; with --key-file the peer must first prove that key.
#include "boot.hpp"
#include "fw_cfg.hpp"
#include "log.hpp"
#include "mounts.hpp"
#include "users.hpp"

#include "berth/agent/handshake.hpp"
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

    // The key berthd made for this VM. It stays in this process's memory only; the fw_cfg
    // device keeps it too, readable by the guest's root alone.
    std::string why;
    auto key = read_fw_cfg_file(agent_key_fw_cfg_name, agent_key_size, why);
    if (!key || key->size() != agent_key_size) {
      if (key) why = "it has " + std::to_string(key->size()) + " bytes, not 32";
      log("cannot read the agent key (fw_cfg %.*s): %s; serving nobody, powering off",
          static_cast<int>(agent_key_fw_cfg_name.size()), agent_key_fw_cfg_name.data(),
          why.c_str());
      power_off();
    }

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
    opts.key = std::move(*key);
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
            "usage: berth-init --fd N --root DIR [--transport NAME] [--key-file PATH]\n"
            "  (as PID 1 of a berth VM it takes no arguments)\n");
  return 2;
}

int host_main(int argc, char** argv) {
  int fd = -1;
  std::string root;
  std::string name = "virtio-serial";
  std::string key_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--fd")
      fd = std::atoi(argv[++i]);
    else if (a == "--root")
      root = argv[++i];
    else if (a == "--transport")
      name = argv[++i];
    else if (a == "--key-file")
      key_file = argv[++i];
    else
      return usage();
  }
  if (fd < 0 || root.empty()) return usage();
  server_options opts;
  opts.root = root;
  opts.stop_on_disconnect = true;
  if (!key_file.empty()) {
    opts.key = read_file(key_file);
    if (opts.key.size() != agent_key_size) {
      log("%s holds %zu bytes; an agent key has %zu", key_file.c_str(), opts.key.size(),
          agent_key_size);
      return 2;
    }
  }
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
