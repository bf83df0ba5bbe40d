// memory_bench: memory a workload frees goes back to the host. A busybox container writes 300 MiB
// to a tmpfs (/dev/shm), then deletes it; the host's view is sampled before, at the peak and every
// 0.5 s for 15 s after. berth's VM returns the pages through virtio-balloon free page reporting;
// podman's container (a shared kernel, no VM) is the peer that returns them at once, the best any
// VM can do. The figures are per container: the RSS of berth's QEMU, and the memory charged to
// podman's container cgroup (cgroup v1 memory.usage_in_bytes: its processes and its tmpfs pages).
//
//   build/bin/memory_bench [--mib N] [--kernel PATH]
#include "bench_support.hpp"

#include <cstdio>
#include <optional>
#include <sstream>
#include <thread>

using namespace berth;
using namespace berth::bench;

namespace {

struct sample {
  double at = 0;  ///< Seconds after the free.
  long kib = -1;  ///< Memory the container holds on the host.
};

struct trace {
  long before = -1;
  long peak = -1;
  std::vector<sample> after;
};

// Runs the allocate / free cycle through `exec` (which runs a shell command in the container)
// and samples `held` (KiB) before, at the peak, and every 0.5 s for 15 s after the free.
template <class Exec, class Held>
trace measure(Exec exec, Held held, int mib) {
  trace t;
  std::this_thread::sleep_for(std::chrono::seconds(3));  // let boot settle
  t.before = held();
  exec("head -c " + std::to_string(mib) + "m /dev/zero > /dev/shm/blob");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  t.peak = held();
  exec("rm /dev/shm/blob");
  auto freed = clock_type::now();
  while (seconds_since(freed) < 15) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    t.after.push_back({seconds_since(freed), held()});
  }
  return t;
}

// The row of one tool: before, peak, 10 s after the free, and how long until the container held
// no more than 10% of the allocation above its before-figure.
void print_row(const char* name, const trace& t, int mib) {
  const sample* at10 = &t.after.back();
  for (auto& s : t.after)
    if (s.at >= 10) {
      at10 = &s;
      break;
    }
  double back = -1;
  for (auto& s : t.after)
    if (s.kib - t.before < mib * 1024 / 10) {
      back = s.at;
      break;
    }
  std::printf("%-36s %8.0f %8.0f %8.0f   ", name, t.before / 1024.0, t.peak / 1024.0,
              at10->kib / 1024.0);
  if (back < 0)
    std::printf("%s\n", "not within 15 s");
  else
    std::printf("%.1f s\n", back);
}

// Memory charged to a podman container's cgroup (v1), in KiB.
long cgroup_kib(const std::string& cgroup) {
  auto text = os::read_file("/sys/fs/cgroup/memory" + cgroup + "/memory.usage_in_bytes");
  return std::stol(text) / 1024;
}

// The memory cgroup of `pid` ("/libpod_parent/libpod-ID").
std::string memory_cgroup(const std::string& pid) {
  std::istringstream in(os::read_file("/proc/" + pid + "/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    auto pos = line.find(":memory:");
    if (pos != std::string::npos) return line.substr(pos + 8);
  }
  bench::die("no memory cgroup (cgroup v1) for pid " + pid);
}

}  // namespace

int main(int argc, char** argv) {
  int mib = 300;
  fs::path kernel = "/var/cache/berth/kernel/default";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mib" && i + 1 < argc)
      mib = std::atoi(argv[++i]);
    else if (a == "--kernel" && i + 1 < argc)
      kernel = argv[++i];
    else
      bench::die("usage: memory_bench [--mib N] [--kernel PATH]");
  }

  bench::daemon d(kernel);
  auto cid =
      d.ok({"run", "-d", "-m", std::to_string(2 * mib + 256) + "m", "busybox", "sleep", "1000000"})
          .substr(0, 64);
  auto qemu = d.qemu_pid(cid);
  auto berth_trace = measure(
      [&](const std::string& cmd) {
        d.ok({"exec", cid, "sh", "-c", cmd});
      },
      [&] { return smaps_kib(qemu, "Rss"); }, mib);
  d.ok({"rm", "-f", cid});

  std::optional<trace> podman_trace;
  std::string podman_note;
  if (have_podman()) {
    bench::podman pm;
    pm.ok({"pull", "-q", "oci-archive:" + (d.images() / "busybox.tar").string()});
    std::vector<std::string> args = {"run", "-d", "--shm-size", std::to_string(mib + 64) + "m"};
    for (auto& o : bench::podman::run_options()) args.push_back(o);
    for (auto a : {"busybox", "sleep", "1000000"}) args.push_back(a);
    auto pid_container = pm.ok(args).substr(0, 64);
    auto pid = pm.ok({"inspect", "--format", "{{.State.Pid}}", pid_container});
    auto cgroup = memory_cgroup(pid.substr(0, pid.find('\n')));
    podman_trace = measure(
        [&](const std::string& cmd) {
          pm.ok({"exec", pid_container, "sh", "-c", cmd});
        },
        [&] { return cgroup_kib(cgroup); }, mib);
  }

  std::printf("memory_bench: %d MiB written to /dev/shm in the container, then deleted\n\n", mib);
  std::printf("%-36s %8s %8s %8s   %s\n", "MiB held by the container", "before", "peak", "+10 s",
              "back within 10% of before");
  print_row("berth: the VM's QEMU RSS", berth_trace, mib);
  if (podman_trace)
    print_row("podman: the container's cgroup", *podman_trace, mib);
  else
    std::printf("(podman is not installed: no peer figure)\n");
  return 0;
}
