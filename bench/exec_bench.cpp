// exec_bench: the round trip of `berth exec C true` into a running busybox container, beside
// `podman exec C true` (a shared-kernel container: crun, no VM) and beside the floors under berth's
// figure: the agent's own ping (berthd -> vm actor -> berth-init and back, as berthd measures it),
// the same ping as a client sees it (one msgpack-RPC call through berthd), and the berth CLI
// asking berthd for nothing (`berth system info` minus its work: process start, connect, one call).
// Calls alternate between the tools in every round so that machine load drifts hit all alike.
//
//   build/bin/exec_bench [--runs N] [--kernel PATH]
//     (as root; starts its own berthd in a temporary directory; podman per ../shared/PEERS.md,
//     skipped with a note if it is not installed)
#include "bench_support.hpp"

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <cstdio>
#include <optional>

using namespace berth;
using namespace berth::bench;

namespace {

struct series {
  const char* name;
  std::vector<double> ms;
};

void print(const series& s, double reference) {
  if (s.ms.empty()) {
    std::printf("%-48s %9s\n", s.name, "n/a");
    return;
  }
  auto med = median(s.ms);
  std::printf("%-48s %9.2f %9.2f %9.2f %9.2f\n", s.name, med, percentile(s.ms, 90),
              *std::min_element(s.ms.begin(), s.ms.end()), reference > 0 ? med / reference : 0.0);
}

double ms_of(clock_type::time_point t) {
  return seconds_since(t) * 1000;
}

}  // namespace

int main(int argc, char** argv) {
  auto [runs, kernel] = parse_vm_options(argc, argv, "exec_bench", 50);

  bench::daemon d(kernel);
  auto cid = d.ok({"run", "-d", "busybox", "sleep", "1000000"}).substr(0, 64);
  auto client = rpc::client::connect(d.host());

  std::optional<bench::podman> pm;
  std::string pid_container;
  if (have_podman()) {
    pm.emplace();
    pm->ok({"pull", "-q", "oci-archive:" + (d.images() / "busybox.tar").string()});
    auto args = std::vector<std::string>{"run", "-d"};
    for (auto& o : bench::podman::run_options()) args.push_back(o);
    for (auto a : {"busybox", "sleep", "1000000"}) args.push_back(a);
    pid_container = pm->ok(args).substr(0, 64);
  }

  series exec{"berth exec C true", {}};
  series podman_exec{"podman exec C true", {}};
  series nsenter_floor{"  podman's nsenter wrapper alone (in its figure)", {}};
  series cli_floor{"berth system info (CLI start + one call)", {}};
  series ping_rpc{"agent ping, as a client sees it (one RPC)", {}};
  series ping_agent{"agent ping, berthd <-> berth-init only", {}};

  auto one_round = [&](bool record) {
    auto t = clock_type::now();
    auto r = d.berth({"exec", cid, "true"});
    if (r.exit_code != 0) bench::die("berth exec failed: " + r.errors);
    if (record) exec.ms.push_back(ms_of(t));

    t = clock_type::now();
    d.ok({"system", "info"});
    if (record) cli_floor.ms.push_back(ms_of(t));

    t = clock_type::now();
    auto ping = client.call<api::ping_result>(api::method::container_ping, api::container_ref{cid});
    if (record) {
      ping_rpc.ms.push_back(ms_of(t));
      ping_agent.ms.push_back(static_cast<double>(ping.agent_rtt_ns) / 1e6);
    }

    if (pm) {
      t = clock_type::now();
      pm->ok({"exec", pid_container, "true"});
      if (record) podman_exec.ms.push_back(ms_of(t));
      auto wrapper = pm->command();
      wrapper.resize(5);  // nsenter -t PID -m
      wrapper.push_back("true");
      t = clock_type::now();
      os::run(wrapper);
      if (record) nsenter_floor.ms.push_back(ms_of(t));
    }
  };

  std::printf("exec_bench: %d rounds, busybox `sleep` as the main process in each container\n",
              runs);
  for (int i = 0; i < 3; ++i)
    one_round(false);  // warm-up: page cache, first translation of exec paths
  for (int i = 0; i < runs; ++i) one_round(true);

  auto reference = median(exec.ms);
  std::printf("\n%-48s %9s %9s %9s %9s\n", "", "median ms", "p90 ms", "min ms", "/ berth");
  print(exec, reference);
  print(podman_exec, reference);
  print(nsenter_floor, reference);
  print(cli_floor, reference);
  print(ping_rpc, reference);
  print(ping_agent, reference);
  if (!pm) std::printf("(podman is not installed: no peer figure)\n");

  d.ok({"rm", "-f", cid});
  return 0;
}
