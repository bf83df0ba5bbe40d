// run_bench: how long `berth run --rm busybox true` takes next to the floor under it, and how much
// host memory an idle container's VM holds.
//
// The floor is QEMU booting the same kernel and the same initramfs with the same devices (the
// same qemu_argv berth uses), with berth.poweroff=1 so berth-init powers off as soon as it runs:
// everything berth adds on top (daemon, RPC, disk, agent, mount, exec, shutdown) is the
// difference. Runs alternate between the two so that machine load drifts affect both alike.
//
//   build/bin/run_bench [--runs N] [--kernel PATH]
//     (as root; starts its own berthd in a temporary directory; --kernel as berthd's, default
//     /var/cache/berth/kernel/default)
#include "bench_support.hpp"

#include "berth/vm/host.hpp"
#include "berth/vm/kernel.hpp"
#include "berth/vm/qemu.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

using namespace berth;
using namespace berth::bench;

int main(int argc, char** argv) {
  auto [runs, kernel_path] = parse_vm_options(argc, argv, "run_bench", 10);
  bench::daemon d(kernel_path);

  // The floor's VM: what berthd prepared (cached, so these calls only find it) and berth's argv.
  auto data = d.root() / "data";
  auto kernel = vm::prepare_kernel(kernel_path, data / "cache");
  if (!kernel) die("kernel: " + describe(kernel.error()));
  auto initramfs = vm::build_initramfs(*kernel, self_dir() / "berth-init", vm::guest_modules(false),
                                       vm::optional_module_sets(), data / "cache");
  if (!initramfs) die("initramfs: " + describe(initramfs.error()));
  fs::path image_disk;
  for (auto& e : fs::recursive_directory_iterator(data / "images"))
    if (e.path().filename() == "rootfs.erofs") image_disk = e.path();
  auto floor_dir = d.root() / "floor";
  fs::create_directories(floor_dir);
  auto rootfs = floor_dir / "rootfs.ext4";
  {
    os::unique_fd f(::open(rootfs.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (::ftruncate(f.get(), 10ll << 30) != 0) die("ftruncate");
  }
  os::run({"mkfs.ext4", "-q", "-F", "-m", "0", rootfs.string()});
  auto accel = vm::choose_accelerator("auto");
  vm::vm_config cfg;
  cfg.accel = accel.kind.value_or(vm::accelerator::tcg);
  cfg.tsc_khz = vm::tsc_khz();
  cfg.cpus = 1;
  cfg.memory_mib = 512 + vm::guest_overhead_mib;
  cfg.kernel = kernel->boot_image;
  cfg.initramfs = initramfs->path;
  cfg.image_disk = image_disk;
  cfg.container_disk = rootfs;
  cfg.console_log = floor_dir / "console.log";
  cfg.extra_cmdline = {"berth.poweroff=1"};
  auto floor_boot = [&]() -> double {
    auto agent = vm::listen_unix(floor_dir / "agent.sock");
    auto qmp = vm::listen_unix(floor_dir / "qmp.sock");
    if (!agent || !qmp) die("sockets");
    os::unique_fd a(*agent), q(*qmp);
    cfg.agent_fd = a.get();
    cfg.qmp_fd = q.get();
    os::spawn_options o;
    o.keep_fds = {a.get(), q.get()};
    auto t = clock_type::now();
    auto pid = os::spawn(vm::qemu_argv(cfg), o);
    os::wait_exit(pid);
    return seconds_since(t);
  };
  auto berth_run = [&]() -> double {
    auto t = clock_type::now();
    auto r = d.berth({"run", "--rm", "busybox", "true"});
    if (r.exit_code != 0) die("berth run failed: " + r.errors);
    return seconds_since(t);
  };

  std::printf("run_bench: %d runs each, accelerator %s, kernel %s, QEMU %s\n", runs,
              std::string(vm::to_string(cfg.accel)).c_str(), kernel->release.c_str(),
              vm::qemu_version("qemu-system-x86_64").c_str());
  berth_run();  // warm-up: page cache, first disk
  floor_boot();
  std::vector<double> b, f;
  for (int i = 0; i < runs; ++i) {
    b.push_back(berth_run());
    f.push_back(floor_boot());
  }
  auto mb = median(b), mf = median(f);
  std::printf("\n%-44s %9s %9s %9s\n", "", "median s", "min s", "max s");
  std::printf("%-44s %9.3f %9.3f %9.3f\n", "berth run --rm busybox true", mb,
              *std::min_element(b.begin(), b.end()), *std::max_element(b.begin(), b.end()));
  std::printf("%-44s %9.3f %9.3f %9.3f\n", "floor: same VM, init powers off at once", mf,
              *std::min_element(f.begin(), f.end()), *std::max_element(f.begin(), f.end()));
  std::printf("%-44s %9.2f   (overhead %.0f%%, %.0f ms)\n", "ratio berth / floor", mb / mf,
              (mb / mf - 1) * 100, (mb - mf) * 1000);

  // Idle memory: a running container that does nothing, after boot has settled.
  auto id = d.berth({"run", "-d", "busybox", "sleep", "100000"});
  if (id.exit_code != 0) die("berth run -d failed: " + id.errors);
  auto cid = id.output.substr(0, 64);
  pid_t qpid = d.qemu_pid(cid);
  auto show = [&](const char* when) {
    std::printf("  %-24s RSS %6.1f MiB   PSS %6.1f MiB   anonymous %6.1f MiB\n", when,
                smaps_kib(qpid, "Rss") / 1024.0, smaps_kib(qpid, "Pss") / 1024.0,
                smaps_kib(qpid, "Anonymous") / 1024.0);
  };
  std::printf("\nidle container's QEMU (busybox sleep, guest RAM %llu MiB):\n",
              static_cast<unsigned long long>(cfg.memory_mib));
  show("just after start");
  std::this_thread::sleep_for(std::chrono::seconds(10));
  show("10 s later");
  d.berth({"rm", "-f", cid});
  return 0;
}
