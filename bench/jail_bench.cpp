// jail_bench: what the QEMU jail (vm-actor/src/jail.hpp) costs: `berth run --rm busybox true`
// and an idle container's QEMU memory on a berthd with the jail (the default) beside one with
// --jail=false, alternating runs so that machine load hits both alike.
//
//   build/bin/jail_bench [--runs N] [--kernel PATH]
//     (as root; starts two berthds in temporary directories)
#include "bench_support.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

using namespace berth;
using namespace berth::bench;

int main(int argc, char** argv) {
  auto [runs, kernel] = parse_vm_options(argc, argv, "jail_bench", 10);
  bench::daemon jailed(kernel);
  bench::daemon bare(kernel, {"--jail=false"});
  auto run = [](const bench::daemon& d) {
    auto t = clock_type::now();
    auto r = d.berth({"run", "--rm", "busybox", "true"});
    if (r.exit_code != 0) die("berth run failed: " + r.errors);
    return seconds_since(t);
  };
  run(jailed);  // warm-up: page cache, first disk
  run(bare);
  std::vector<double> j, b;
  for (int i = 0; i < runs; ++i) {
    j.push_back(run(jailed));
    b.push_back(run(bare));
  }
  std::printf("jail_bench: %d runs each\n\n%-36s %9s %9s %9s\n", runs, "", "median s", "min s",
              "max s");
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("%-36s %9.3f %9.3f %9.3f\n", name, median(v), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()));
  };
  row("run --rm busybox true, jailed", j);
  row("run --rm busybox true, --jail=false", b);
  std::printf("%-36s %9.3f   (%+.1f%%)\n", "ratio jailed / unjailed", median(j) / median(b),
              (median(j) / median(b) - 1) * 100);

  // Idle memory: one running container on each, after boot has settled.
  auto start = [](const bench::daemon& d) {
    auto id = d.berth({"run", "-d", "busybox", "sleep", "100000"});
    if (id.exit_code != 0) die("berth run -d failed: " + id.errors);
    auto cid = id.output.substr(0, 64);
    return std::make_pair(cid, d.qemu_pid(cid));
  };
  auto [jc, jp] = start(jailed);
  auto [bc, bp] = start(bare);
  std::this_thread::sleep_for(std::chrono::seconds(10));
  auto rj = smaps_kib(jp, "Rss") / 1024.0, rb = smaps_kib(bp, "Rss") / 1024.0;
  auto pj = smaps_kib(jp, "Pss") / 1024.0, pb = smaps_kib(bp, "Pss") / 1024.0;
  std::printf("\nidle container's QEMU, 10 s after start:\n");
  std::printf("  %-22s RSS %6.1f MiB   PSS %6.1f MiB\n", "jailed", rj, pj);
  std::printf("  %-22s RSS %6.1f MiB   PSS %6.1f MiB\n", "--jail=false", rb, pb);
  std::printf("  %-22s RSS %6.3f       PSS %6.3f\n", "ratio", rj / rb, pj / pb);
  jailed.berth({"rm", "-f", jc});
  bare.berth({"rm", "-f", bc});
  return 0;
}
