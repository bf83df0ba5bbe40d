// qemu.cpp: QEMU's command line, unix sockets and a small blocking QMP client.
#include "berth/vm/qemu.hpp"

#include "berth/agent/handshake.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/random.hpp"
#include "berth/os/socket.hpp"

#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace berth::vm {

namespace fs = std::filesystem;

std::string qemu_option_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';  // QEMU's option syntax: ",," is a literal comma
  }
  return out;
}

std::vector<std::string> qemu_argv(const vm_config& cfg) {
  std::vector<std::string> a = {cfg.qemu};
  auto add = [&](std::string flag, std::string value) {
    a.push_back(std::move(flag));
    a.push_back(std::move(value));
  };
  // microvm without legacy PIC/PIT: fewer devices to emulate; the RTC gives the guest the date.
  add("-M", "microvm,pit=off,pic=off,rtc=on");
  if (cfg.accel == accelerator::kvm) {
    add("-accel", "kvm");
    add("-cpu", "host");
  } else {
    add("-accel", "tcg,tb-size=" + std::to_string(cfg.tcg_tb_mib));
    add("-cpu", "max");
  }
  add("-smp", std::to_string(std::max<uint32_t>(cfg.cpus, 1)));
  add("-m", std::to_string(cfg.memory_mib) + "M");
  for (auto flag : {"-nodefaults", "-no-user-config", "-no-reboot"}) a.push_back(flag);
  add("-display", "none");
  if (cfg.sandbox)
    add("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");

  std::string cmdline = "console=ttyS0 panic=-1 reboot=t rdinit=/init";
  cmdline += cfg.debug ? " loglevel=7 berth.debug=1" : " quiet";
  if (cfg.accel != accelerator::kvm && cfg.tsc_khz > 0)
    cmdline += " tsc_early_khz=" + std::to_string(cfg.tsc_khz);
  cmdline += " berth.transport=" + std::string(to_string(cfg.transport));
  for (auto& extra : cfg.extra_cmdline) cmdline += " " + extra;
  add("-kernel", cfg.kernel.string());
  add("-initrd", cfg.initramfs.string());
  add("-append", cmdline);

  // The agent key: its path is on the command line, its content only in the guest's fw_cfg.
  if (!cfg.agent_key.empty())
    add("-fw_cfg", "name=" + std::string(agent::agent_key_fw_cfg_name) +
                       ",file=" + qemu_option_value(cfg.agent_key.string()));
  // A file berthd opened goes in an fd set of its own; QEMU opens /dev/fdset/N as the file.
  int fdsets = 0;
  auto file_arg = [&](int fd, int fd_ro, const fs::path& path) {
    if (fd < 0) return qemu_option_value(path.string());
    auto set = std::to_string(++fdsets);
    add("-add-fd", "fd=" + std::to_string(fd) + ",set=" + set);
    if (fd_ro >= 0) add("-add-fd", "fd=" + std::to_string(fd_ro) + ",set=" + set);
    return "/dev/fdset/" + set;
  };
  if (cfg.console_fd >= 0)
    // The console log's host path names the VM for is_our_qemu (opaque is free text).
    add("-add-fd", "fd=" + std::to_string(cfg.console_fd) + ",set=" + std::to_string(++fdsets) +
                       ",opaque=" + qemu_option_value(cfg.console_log.string()));
  auto console = cfg.console_fd >= 0 ? "/dev/fdset/" + std::to_string(fdsets)
                                     : qemu_option_value(cfg.console_log.string());
  add("-chardev", "file,id=console,path=" + console + ",append=on");
  add("-serial", "chardev:console");
  if (cfg.qmp_fd >= 0) {
    add("-chardev", "socket,id=qmp,fd=" + std::to_string(cfg.qmp_fd) + ",server=on,wait=off");
    add("-mon", "chardev=qmp,mode=control");
  }
  if (cfg.transport == agent_transport::vsock) {
    add("-device", "vhost-vsock-device,guest-cid=" + std::to_string(cfg.vsock_cid) +
                       (cfg.vhost_vsock_fd >= 0 ? ",vhostfd=" + std::to_string(cfg.vhost_vsock_fd)
                                                : std::string()));
  } else {
    add("-device", "virtio-serial-device");
    add("-chardev", "socket,id=agent,fd=" + std::to_string(cfg.agent_fd) + ",server=on,wait=off");
    add("-device", "virtserialport,chardev=agent,name=berth.agent");
  }
  // Disks are found in the guest by serial, never by order.
  add("-drive", "file=" + file_arg(cfg.image_fd, -1, cfg.image_disk) +
                    ",if=none,id=image,format=raw,readonly=on");
  add("-device", "virtio-blk-device,drive=image,serial=image");
  add("-drive", "file=" + file_arg(cfg.container_fd, cfg.container_fd_ro, cfg.container_disk) +
                    ",if=none,id=rootfs,format=raw,discard=unmap,detect-zeroes=unmap");
  add("-device", "virtio-blk-device,drive=rootfs,serial=rootfs");
  for (auto& d : cfg.disks) {
    // A read-only view may be taken while another VM has the volume read-write: QEMU's image
    // lock would refuse that, so the read-only opener does not lock.
    add("-drive",
        "file=" + file_arg(d.fd, d.fd_ro, d.path) + ",if=none,id=" + d.serial + ",format=raw" +
            (d.readonly ? ",readonly=on,file.locking=off" : ",discard=unmap,detect-zeroes=unmap"));
    add("-device", "virtio-blk-device,drive=" + d.serial + ",serial=" + d.serial);
  }
  // Host directories over 9p with security_model=mapped-xattr: what the guest sets as owner, mode
  // or device type is kept in user.virtfs.* xattrs, and the host file stays a plain file (0600,
  // dirs 0700) owned by QEMU's uid, so no setuid bit, device node or foreign owner reaches the
  // host. Files the host made show their own owners and modes. A read-only share is refused writes
  // by QEMU itself.
  for (std::size_t i = 0; i < cfg.shares.size(); ++i) {
    auto& sh = cfg.shares[i];
    auto id = "fs" + std::to_string(i);
    add("-fsdev", "local,id=" + id + ",path=" + qemu_option_value(sh.path.string()) +
                      ",security_model=mapped-xattr" + (sh.readonly ? ",readonly=on" : ""));
    add("-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + sh.tag);
  }
  // NICs: a tap the net supervisor made (QEMU opens it by name; no vhost, see DESIGN.md), or
  // QEMU's user-mode stack with host forwards for published ports.
  for (std::size_t i = 0; i < cfg.nics.size(); ++i) {
    auto& n = cfg.nics[i];
    auto id = "n" + std::to_string(i);
    if (n.tap_fd >= 0) {
      add("-netdev", "tap,id=" + id + ",fd=" + std::to_string(n.tap_fd));
    } else if (!n.tap.empty()) {
      add("-netdev", "tap,id=" + id + ",ifname=" + n.tap + ",script=no,downscript=no");
    } else {
      std::string user = "user,id=" + id;
      for (auto& f : n.hostfwd) user += ",hostfwd=" + f;
      add("-netdev", user);
    }
    add("-device", "virtio-net-device,netdev=" + id + ",mac=" + n.mac);
  }
  // Memory the guest frees goes back to the host within seconds.
  add("-device", "virtio-balloon-device,free-page-reporting=on");
  return a;
}

caf::expected<int> listen_unix(const fs::path& path) {
  try {
    return os::listen_unix(path, 0600, 8).release();
  } catch (const std::system_error& e) {
    return make_error(e.code().value() == ENAMETOOLONG ? errc::invalid_argument : errc::io,
                      e.what());
  }
}

caf::expected<int> connect_unix(const fs::path& path) {
  try {
    return os::connect_unix(path, true).release();
  } catch (const std::system_error& e) {
    return make_error(errc::unavailable, e.what());
  }
}

caf::expected<int> connect_vsock(uint32_t cid, uint32_t port) {
  os::unique_fd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errc::unsupported, std::string("vsock: ") + std::strerror(errno));
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return make_error(errc::unavailable, "connect vsock " + std::to_string(cid) + ":" +
                                             std::to_string(port) + ": " + std::strerror(errno));
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd.release();
}

uint32_t random_vsock_cid() {
  auto v = static_cast<uint32_t>(std::stoul(os::random_hex(4), nullptr, 16));
  return 3 + v % (0xfffffffeu - 3);
}

caf::expected<std::string> qmp_command(const fs::path& socket, const std::string& command,
                                       std::chrono::milliseconds timeout) {
  auto fd_or = connect_unix(socket);
  if (!fd_or) return fd_or.error();
  os::unique_fd fd(*fd_or);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string buffer;
  // Reads one JSON line that is not an event.
  auto read_reply = [&]() -> caf::expected<nlohmann::json> {
    for (;;) {
      auto nl = buffer.find('\n');
      while (nl != std::string::npos) {
        auto line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_discarded() && !j.contains("event")) return j;
        nl = buffer.find('\n');
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return make_error(errc::timeout, "QMP did not answer " + command);
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      auto n = ::read(fd.get(), buf, sizeof buf);
      if (n == 0) return make_error(errc::unavailable, "QMP closed the connection");
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return make_error(errc::unavailable, std::string("QMP read: ") + std::strerror(errno));
      }
      buffer.append(buf, static_cast<std::size_t>(n));
      if (buffer.size() > (1u << 20)) return make_error(errc::protocol, "QMP reply too large");
    }
  };
  auto send = [&](const std::string& line) -> bool {
    std::string_view rest = line;
    while (!rest.empty()) {
      auto n = ::write(fd.get(), rest.data(), rest.size());
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          pollfd p{fd.get(), POLLOUT, 0};
          ::poll(&p, 1, 100);
          continue;
        }
        return false;
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
  auto greeting = read_reply();
  if (!greeting) return greeting.error();
  if (!send("{\"execute\":\"qmp_capabilities\"}\n"))
    return make_error(errc::unavailable, "QMP write failed");
  if (auto r = read_reply(); !r) return r.error();
  if (!send("{\"execute\":\"" + command + "\"}\n"))
    return make_error(errc::unavailable, "QMP write failed");
  auto reply = read_reply();
  if (!reply) {
    // quit closes the connection before (or instead of) answering.
    if (command == "quit" && code_of(reply.error()) == errc::unavailable) return std::string("{}");
    return reply.error();
  }
  if (reply->contains("error"))
    return make_error(errc::unavailable, "QMP " + command + ": " + (*reply)["error"].dump());
  return reply->value("return", nlohmann::json::object()).dump();
}

}  // namespace berth::vm
