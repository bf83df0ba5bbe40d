// stats.cpp: parsing /proc/stat, /proc/meminfo, /proc/net/dev, /proc/N and /sys/block.
#include "stats.hpp"

#include "boot.hpp"
#include "users.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace berth::agent {

namespace {

std::string_view line_starting(std::string_view text, std::string_view prefix) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    if (line.starts_with(prefix)) return line;
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return {};
}

// The unsigned decimal numbers in `text`, separated by anything else (no iostreams: they would
// double the static binary).
std::vector<uint64_t> numbers(std::string_view text) {
  std::vector<uint64_t> out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    uint64_t v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') v = v * 10 + (text[i++] - '0');
    out.push_back(v);
  }
  return out;
}

bool all_digits(const char* s) {
  if (!*s) return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

uint64_t busy_jiffies(std::string_view proc_stat) {
  auto line = line_starting(proc_stat, "cpu ");
  if (line.empty()) return 0;
  // user nice system idle iowait irq softirq steal guest guest_nice
  auto v = numbers(line.substr(4));
  uint64_t sum = 0;
  for (std::size_t i : {0, 1, 2, 5, 6})
    if (i < v.size()) sum += v[i];
  return sum;
}

uint64_t meminfo_bytes(std::string_view meminfo, std::string_view key) {
  auto line = line_starting(meminfo, std::string(key) + ":");
  if (line.empty()) return 0;
  auto v = numbers(line.substr(key.size() + 1));
  return v.empty() ? 0 : v[0] * 1024;
}

uint32_t count_processes(const std::string& proc_dir, pid_t self) {
  DIR* dir = ::opendir(proc_dir.c_str());
  if (!dir) return 0;
  uint32_t count = 0;
  while (auto* e = ::readdir(dir)) {
    if (!all_digits(e->d_name)) continue;
    long pid = std::strtol(e->d_name, nullptr, 10);
    if (pid == self) continue;
    std::string base = proc_dir + "/" + e->d_name;
    if (pid == 2) continue;  // kthreadd
    if (read_file(base + "/cmdline").empty()) {
      // Kernel threads have no command line and kthreadd as their parent; a zombie has no
      // command line either but another parent, and still counts.
      auto stat = read_file(base + "/stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;  // gone meanwhile
      // ") S 2 ...": the state, then the parent's pid.
      auto fields = numbers(std::string_view(stat).substr(close + 1));
      if (!fields.empty() && fields[0] == 2) continue;
    }
    ++count;
  }
  ::closedir(dir);
  return count;
}

std::vector<io_counter> parse_net_dev(std::string_view text) {
  std::vector<io_counter> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (name.empty() || name == "lo" || name.find('|') != std::string_view::npos) continue;
    auto v = numbers(line.substr(colon + 1));
    if (v.size() < 9) continue;
    out.push_back({std::string(name), v[0], v[8]});
  }
  return out;
}

vm_stats collect_stats(const stats_sources& src) {
  vm_stats s;
  long tick = ::sysconf(_SC_CLK_TCK);
  if (tick <= 0) tick = 100;
  s.cpu_ns =
      busy_jiffies(read_file(src.proc + "/stat")) * (1000000000ull / static_cast<uint64_t>(tick));
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  s.cpus = cpus > 0 ? static_cast<uint32_t>(cpus) : 0;
  auto meminfo = read_file(src.proc + "/meminfo");
  s.memory_total = meminfo_bytes(meminfo, "MemTotal");
  auto available = meminfo_bytes(meminfo, "MemAvailable");
  s.memory_used = s.memory_total > available ? s.memory_total - available : 0;
  s.pids = count_processes(src.proc, src.self ? src.self : ::getpid());

  if (DIR* dir = ::opendir(src.sys_block.c_str())) {
    while (auto* e = ::readdir(dir)) {
      std::string dev = e->d_name;
      if (!dev.starts_with("vd")) continue;
      auto v = numbers(read_file(src.sys_block + "/" + dev + "/stat"));
      if (v.size() < 7) continue;
      auto serial = trimmed(read_file(src.sys_block + "/" + dev + "/serial"));
      s.disks.push_back({serial.empty() ? dev : serial, v[2] * 512, v[6] * 512});
    }
    ::closedir(dir);
    std::sort(s.disks.begin(), s.disks.end(),
              [](const io_counter& a, const io_counter& b) { return a.name < b.name; });
  }
  s.networks = parse_net_dev(read_file(src.proc + "/net/dev"));
  s.uptime_ms = uptime_ms();
  return s;
}

}  // namespace berth::agent
