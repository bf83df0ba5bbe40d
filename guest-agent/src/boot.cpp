// boot.cpp: module loading, command line, port discovery, vsock listener, power off.
#include "boot.hpp"

#include "log.hpp"
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>

namespace berth::agent {

std::vector<std::string> parse_load_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    out.emplace_back(line);
  }
  return out;
}

namespace {

// Loads one module file with finit_module; 0 (loaded or already there) or an errno.
int load_module(const std::string& dir, const std::string& name) {
  std::string path = name.find('/') == std::string::npos ? dir + "/" + name : name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::syscall(SYS_finit_module, fd, "", 0) == 0 || errno == EEXIST ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

int load_modules(const std::string& dir) {
  auto list = parse_load_list(read_file(dir + "/load.list"));
  int loaded = 0;
  for (const auto& name : list) {
    if (int err = load_module(dir, name); err == 0)
      ++loaded;
    else
      log("module %s failed to load: %s", name.c_str(), std::strerror(err));
  }
  return loaded;
}

void load_module_set(const std::string& name, const std::string& dir) {
  // One agent, one thread: the sets loaded so far, by list path.
  static std::set<std::string> loaded;
  std::string list_path = dir + "/" + name + ".list";
  if (loaded.count(list_path)) return;
  int fd = ::open(list_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw rpc::call_error(errc::unsupported, "this VM's initramfs has no " + name + " modules (" +
                                                 list_path + ": " + std::strerror(errno) + ")");
  ::close(fd);
  auto start = uptime_ms();
  auto list = parse_load_list(read_file(list_path));
  for (const auto& module : list)
    if (int err = load_module(dir, module); err != 0)
      throw rpc::call_error(
          errc::io, "loading module " + module + " of the " + name + " set: " + std::strerror(err));
  loaded.insert(list_path);
  log("loaded the %s module set (%zu modules) in %llu ms", name.c_str(), list.size(),
      static_cast<unsigned long long>(uptime_ms() - start));
}

std::optional<std::string> cmdline_value(std::string_view cmdline, std::string_view key) {
  std::optional<std::string> found;
  while (!cmdline.empty()) {
    auto start = cmdline.find_first_not_of(" \t\n");
    if (start == std::string_view::npos) break;
    cmdline.remove_prefix(start);
    auto end = cmdline.find_first_of(" \t\n");
    auto word = cmdline.substr(0, end);
    cmdline = end == std::string_view::npos ? std::string_view{} : cmdline.substr(end);
    if (word == key)
      found = std::string();
    else if (word.size() > key.size() && word.starts_with(key) && word[key.size()] == '=')
      found = std::string(word.substr(key.size() + 1));  // the last one wins, as in the kernel
  }
  return found;
}

std::string find_port(const std::string& class_dir, std::string_view port_name) {
  DIR* dir = ::opendir(class_dir.c_str());
  if (!dir) return {};
  std::string found;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    auto name = read_file(class_dir + "/" + e->d_name + "/name");
    while (!name.empty() && (name.back() == '\n' || name.back() == '\0')) name.pop_back();
    if (name == port_name) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

int open_port(std::string_view port_name, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto dev = find_port("/sys/class/virtio-ports", port_name);
    if (!dev.empty()) {
      int fd = ::open(("/dev/" + dev).c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      if (fd >= 0) {
        log("agent port /dev/%s ready at %llu ms", dev.c_str(),
            static_cast<unsigned long long>(uptime_ms()));
        return fd;
      }
      if (errno != ENOENT) log("open /dev/%s: %s", dev.c_str(), std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int listen_vsock(uint32_t port) {
  int fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

uint64_t uptime_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  log("power off failed: %s; rebooting", std::strerror(errno));
  ::reboot(RB_AUTOBOOT);
  for (;;) ::pause();
}

}  // namespace berth::agent
