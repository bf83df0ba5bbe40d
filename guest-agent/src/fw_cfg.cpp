// fw_cfg.cpp: the fw_cfg file directory and reads through the I/O ports or sysfs.
#include "fw_cfg.hpp"

#include <fcntl.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <sys/io.h>
#endif

#include <cerrno>
#include <cstring>

namespace berth::agent {

namespace {

constexpr std::size_t entry_size = 64;
constexpr std::size_t name_size = 56;

uint32_t be32(std::string_view b) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[0])) << 24 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[1])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[2])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[3]));
}

uint16_t be16(std::string_view b) {
  return static_cast<uint16_t>(static_cast<unsigned char>(b[0]) << 8 |
                               static_cast<unsigned char>(b[1]));
}

#if defined(__x86_64__) || defined(__i386__)

constexpr unsigned short selector_port = 0x510;
constexpr unsigned short data_port = 0x511;
constexpr uint16_t signature_item = 0x0000;
constexpr uint16_t directory_item = 0x0019;
// More files than QEMU ever registers (its default is 32 slots, x-file-slots at most 0x1000).
constexpr uint32_t max_files = 0x1000;

std::string read_item(uint16_t item, std::size_t size) {
  ::outw(item, selector_port);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(::inb(data_port));
  return out;
}

std::optional<std::string> read_by_ports(std::string_view name, std::size_t max_size,
                                         std::string& why) {
  if (::ioperm(selector_port, 2, 1) != 0) {
    why = std::string("ioperm on the fw_cfg ports: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::optional<std::string> out;
  if (read_item(signature_item, 4) != "QEMU") {
    why = "no QEMU fw_cfg device at I/O port 0x510";
  } else {
    auto count = be32(read_item(directory_item, 4));
    if (count > max_files) count = max_files;
    // The directory item starts over with its count when selected again.
    auto dir = read_item(directory_item, 4 + std::size_t{count} * entry_size);
    auto file = find_fw_cfg_file(dir, name);
    if (!file)
      why = "fw_cfg has no file " + std::string(name);
    else if (file->size > max_size)
      why = "fw_cfg file " + std::string(name) + " has " + std::to_string(file->size) +
            " bytes, more than " + std::to_string(max_size);
    else
      out = read_item(file->select, file->size);
  }
  ::ioperm(selector_port, 2, 0);
  return out;
}

#endif

std::optional<std::string> read_by_sysfs(std::string_view name, std::size_t max_size,
                                         std::string& why) {
  auto path = "/sys/firmware/qemu_fw_cfg/by_name/" + std::string(name) + "/raw";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why += (why.empty() ? "" : "; ") + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_size) break;
  }
  ::close(fd);
  if (out.size() > max_size) {
    why = path + " has more than " + std::to_string(max_size) + " bytes";
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<fw_cfg_file> find_fw_cfg_file(std::string_view directory, std::string_view name) {
  if (directory.size() < 4 || name.empty() || name.size() >= name_size) return std::nullopt;
  std::size_t count = be32(directory);
  std::size_t present = (directory.size() - 4) / entry_size;
  if (count > present) count = present;
  for (std::size_t i = 0; i < count; ++i) {
    auto e = directory.substr(4 + i * entry_size, entry_size);
    auto field = e.substr(8, name_size);
    auto stored = field.substr(0, std::min(field.find('\0'), field.size()));
    if (stored == name) return fw_cfg_file{be32(e), be16(e.substr(4))};
  }
  return std::nullopt;
}

std::optional<std::string> read_fw_cfg_file(std::string_view name, std::size_t max_size,
                                            std::string& why) {
  why.clear();
#if defined(__x86_64__) || defined(__i386__)
  if (auto out = read_by_ports(name, max_size, why)) return out;
  // A device that answered but has no such file: sysfs would say the same.
  if (why.starts_with("fw_cfg")) return std::nullopt;
#endif
  return read_by_sysfs(name, max_size, why);
}

}  // namespace berth::agent
