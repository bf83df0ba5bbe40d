// Tests of the stats parsers against fixed /proc and /sys texts, and of collect_stats() against a
// fake /proc and /sys/block tree.
#include "stats.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace berth::agent;
namespace fs = std::filesystem;

namespace {

struct fake_tree {
  fs::path dir;
  fake_tree() {
    char tmpl[] = "/tmp/berth-stats-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~fake_tree() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write(const fs::path& rel, std::string_view text) const {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel, std::ios::binary) << text;
  }
  // A process directory: its cmdline and the stat line's state and parent.
  void process(int pid, std::string_view cmdline, std::string_view comm, char state,
               int ppid) const {
    auto base = fs::path("proc") / std::to_string(pid);
    write(base / "cmdline", cmdline);
    write(base / "stat", std::to_string(pid) + " (" + std::string(comm) + ") " + state + " " +
                             std::to_string(ppid) + " 1 1 0 -1 4194560\n");
  }
};

constexpr std::string_view proc_stat =
    "cpu  100 20 300 9999 50 4 5 7 0 0\n"
    "cpu0 50 10 150 5000 25 2 3 3 0 0\n"
    "intr 12345\n";

constexpr std::string_view meminfo =
    "MemTotal:        2000 kB\n"
    "MemFree:          500 kB\n"
    "MemAvailable:     800 kB\n";

constexpr std::string_view net_dev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:    3267      29    0    0    0     0          0         0     3267      29    0    0 "
    "   0     0       0          0\n"
    "  eth0: 1477735    3073    0    0    0     0          0         0   142483    2009    0    0 "
    "   0     0       0          0\n";

}  // namespace

TEST_CASE("busy CPU time is user, nice, system, irq and softirq of the cpu line") {
  CHECK(busy_jiffies(proc_stat) == 100 + 20 + 300 + 4 + 5);
  CHECK(busy_jiffies("intr 5\n") == 0);
}

TEST_CASE("meminfo values are read in kB and given in bytes") {
  CHECK(meminfo_bytes(meminfo, "MemTotal") == 2000 * 1024);
  CHECK(meminfo_bytes(meminfo, "MemAvailable") == 800 * 1024);
  CHECK(meminfo_bytes(meminfo, "Mem") == 0);
  CHECK(meminfo_bytes(meminfo, "SwapTotal") == 0);
}

TEST_CASE("network counters leave lo out") {
  auto nets = parse_net_dev(net_dev);
  REQUIRE(nets.size() == 1);
  CHECK(nets[0].name == "eth0");
  CHECK(nets[0].read_bytes == 1477735);
  CHECK(nets[0].write_bytes == 142483);
}

TEST_CASE("processes are counted without the agent and kernel threads, zombies included") {
  fake_tree t;
  t.process(1, std::string("/init\0", 6), "init", 'S', 0);
  t.process(2, "", "kthreadd", 'S', 0);
  t.process(3, "", "kworker/0:0-events", 'I', 2);
  t.process(4, "", "weird) name (x", 'S', 2);
  t.process(40, std::string("sh\0", 3), "sh", 'S', 1);
  t.process(41, "", "sleep", 'Z', 40);
  t.write("proc/self/cmdline", "x");
  t.write("proc/net/dev", "");
  CHECK(count_processes((t.dir / "proc").string(), 1) == 2);
  CHECK(count_processes((t.dir / "proc").string(), 40) == 2);  // init counts when not the agent
}

TEST_CASE("collect_stats reads cpu, memory, processes, disks by serial and networks") {
  fake_tree t;
  t.write("proc/stat", proc_stat);
  t.write("proc/meminfo", meminfo);
  t.write("proc/net/dev", net_dev);
  t.process(1, std::string("/init\0", 6), "init", 'S', 0);
  t.process(7,
            std::string("sleep\0"
                        "9\0",
                        8),
            "sleep", 'S', 1);
  t.write("sys/vda/serial", "image\n");
  t.write("sys/vda/stat", "  100 0 2000 30 0 0 0 0 0 20 30 0 0 0 0 0 0\n");
  t.write("sys/vdb/serial", "");
  t.write("sys/vdb/stat", "  1 2 8 4 5 6 16 8 0 1 1 0 0 0 0 0 0\n");
  t.write("sys/loop0/stat", "  1 2 8 4 5 6 16 8 0 1 1 0 0 0 0 0 0\n");
  auto s = collect_stats({(t.dir / "proc").string(), (t.dir / "sys").string(), 1});
  CHECK(s.cpu_ns == 429u * (1000000000u / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK))));
  CHECK(s.memory_total == 2000 * 1024);
  CHECK(s.memory_used == 1200 * 1024);
  CHECK(s.pids == 1);
  REQUIRE(s.disks.size() == 2);
  CHECK(s.disks[0].name == "image");
  CHECK(s.disks[0].read_bytes == 2000 * 512);
  CHECK(s.disks[0].write_bytes == 0);
  CHECK(s.disks[1].name == "vdb");  // no serial: the device name
  CHECK(s.disks[1].read_bytes == 8 * 512);
  CHECK(s.disks[1].write_bytes == 16 * 512);
  REQUIRE(s.networks.size() == 1);
  CHECK(s.networks[0].name == "eth0");
  CHECK(s.cpus >= 1);
  CHECK(s.uptime_ms > 0);
}
