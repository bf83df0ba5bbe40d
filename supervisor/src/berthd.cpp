// berthd.cpp: the daemon's main: settings, host preparation (kernel, initramfs, accelerator),
// the actor system with the root supervisor, and a clean stop on SIGTERM or SIGINT. By default
// (live restore) a clean stop leaves running containers running, with their networks, for the
// next berthd to adopt; with --live-restore=false it stops every container and leaves no VM,
// bridge, socket or temporary file behind.
#include "berth/supervisor/berthd.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/net/net_supervisor.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/program.hpp"
#include "berth/supervisor/data_root.hpp"
#include "berth/vm/host.hpp"
#include "berth/vm/kernel.hpp"
#include "berth/vm/vm_supervisor.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace fs = std::filesystem;
using namespace berth;

namespace {

inline constexpr log::logger daemon_log("berthd");

constexpr const char* usage = R"(Usage: berthd [OPTIONS]

The berth daemon: runs every container in its own QEMU microVM.

Options:
  --data-root DIR      Where images, containers and the database live (default /var/lib/berth)
  --run-root DIR       Where VM sockets live while they run (default /run/berth)
  -H, --host URI       Where to listen (default unix:///run/berth/berthd.sock)
  --group NAME         Members of this group may use berthd, as root can (default: the group
                       berth if it exists, else root only); the socket is then 0660 root:NAME
  --max-connections N  Clients served at once; more are refused (default 256)
  --kernel PATH        Guest kernel: an unpacked kernel package directory or a kernel image
                       (default /var/cache/berth/kernel/default, made by scripts/install-deps.sh)
  --agent PATH         The guest agent berth-init (default: next to berthd)
  --accel MODE         auto, kvm or tcg (default auto: KVM only where it can boot this kernel)
  --qemu PATH          qemu-system-x86_64 to run (default: the first in /usr/bin, /usr/sbin,
                       /bin, /sbin; never searched in PATH)
  --boot-timeout SECS  How long a VM may take to boot (default 60)
  --heartbeat-timeout SECS
                       A running VM whose guest agent answers nothing for this long (QEMU
                       stopped, the guest wedged) is killed as unresponsive and its restart
                       policy applies; checked every third of it (default 30; 0: off)
  --live-restore[=true|false]
                       Whether containers keep running while berthd is stopped; the next
                       berthd adopts them (default true). With false a stop ends them all
  --insecure-registry HOST[:PORT]
                       A registry reached over plain HTTP or unverified TLS (repeatable;
                       loopback registries always are, as under Docker)
  --registry-certs DIR Per-registry CAs and client certificates, DIR/HOST[:PORT]/ca.crt
                       (default /etc/berth/certs.d)
  --max-concurrent-downloads N
                       Layers one pull downloads at once (default 3)
  --default-subnet CIDR
                       Subnet of the `default` network (default 10.89.0.0/16)
  --bridge none        No bridge networks (for hosts without CAP_NET_ADMIN): containers get
                       no network unless run with --network none or user
  --dns IP             Upstream DNS server for the networks' resolvers (repeatable; default
                       the host's /etc/resolv.conf)
  --jail[=true|false]  Run each QEMU jailed: a uid of its own, no capabilities, its own
                       namespaces, root and cgroup (default true; false only to compare costs)
  --jail-uid-base N    First uid and gid of the jails: a VM's QEMU runs as N + its host pid
                       (default 2000000000)
  --log-level LEVEL    debug, info, warn or error (default info)
  --debug              Verbose guest kernel and agent (in each container's boot log)
  --fault-injection    For tests: accept debug.crash, which crashes an actor of the tree
  -h, --help           Show this help
  --version            Show the version
)";

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "berthd: %s\n", msg.c_str());
  std::exit(1);
}

daemon_options parse_args(int argc, char** argv) {
  daemon_options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) die("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("berthd %s\n", berthd_version);
      std::exit(0);
    } else if (a == "--data-root")
      o.data_root = next();
    else if (a == "--run-root")
      o.run_root = next();
    else if (a == "-H" || a == "--host")
      o.host = next();
    else if (a == "--group")
      o.group = next();
    else if (a == "--max-connections") {
      auto v = next();
      char* end = nullptr;
      auto n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 1000000)
        die("--max-connections needs a number from 1 to 1000000");
      o.max_connections = n;
    } else if (a == "--kernel")
      o.kernel = next();
    else if (a == "--agent")
      o.agent = next();
    else if (a == "--accel") {
      o.accel = next();
      if (o.accel != "auto" && o.accel != "kvm" && o.accel != "tcg")
        die("--accel must be auto, kvm or tcg");
    } else if (a == "--qemu")
      o.qemu = next();
    else if (a == "--boot-timeout") {
      try {
        o.boot_timeout_s = std::stoi(next());
      } catch (...) {
        die("--boot-timeout needs a number of seconds");
      }
      if (o.boot_timeout_s <= 0) die("--boot-timeout must be positive");
    } else if (a == "--heartbeat-timeout") {
      try {
        o.heartbeat_timeout_s = std::stoi(next());
      } catch (...) {
        die("--heartbeat-timeout needs a number of seconds");
      }
      if (o.heartbeat_timeout_s < 0) die("--heartbeat-timeout cannot be negative");
    } else if (a == "--live-restore") {
      auto v = has_value ? value : std::string("true");
      if (v != "true" && v != "false") die("--live-restore takes true or false");
      o.live_restore = v == "true";
    } else if (a == "--jail") {
      auto v = has_value ? value : std::string("true");
      if (v != "true" && v != "false") die("--jail takes true or false");
      o.jail = v == "true";
    } else if (a == "--jail-uid-base") {
      try {
        auto base = std::stoull(next());
        if (base == 0 || base > 0xffffffffull - (1ull << 22)) throw std::out_of_range("uid");
        o.jail_uid_base = static_cast<uint32_t>(base);
      } catch (...) {
        die("--jail-uid-base needs a uid above 0 with room for 2^22 pids below 2^32");
      }
    } else if (a == "--log-level") {
      log::level lvl;
      if (!log::parse_level(next(), lvl)) die("--log-level must be debug, info, warn or error");
      log::set_threshold(lvl);
    } else if (a == "--debug")
      o.debug = true;
    else if (a == "--fault-injection")
      o.fault_injection = true;
    else if (a == "--insecure-registry")
      o.insecure_registries.push_back(next());
    else if (a == "--registry-certs")
      o.registry_certs = next();
    else if (a == "--max-concurrent-downloads") {
      try {
        o.max_concurrent_downloads = std::stoul(next());
      } catch (...) {
        die("--max-concurrent-downloads needs a number");
      }
      if (o.max_concurrent_downloads == 0) die("--max-concurrent-downloads must be at least 1");
    } else if (a == "--default-subnet")
      o.default_subnet = next();
    else if (a == "--bridge") {
      auto v = next();
      if (v != "none") die("--bridge only takes none (bridge networks are on by default)");
      o.bridge_none = true;
    } else if (a == "--dns")
      o.dns.push_back(next());
    else
      die("unknown option " + a + " (see berthd --help)");
  }
  if (o.data_root.is_relative()) o.data_root = fs::absolute(o.data_root);
  if (o.run_root.is_relative()) o.run_root = fs::absolute(o.run_root);
  return o;
}

fs::path default_agent() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  for (auto candidate :
       {exe.parent_path() / "berth-init", fs::path("/usr/local/lib/berth/berth-init"),
        fs::path("/usr/lib/berth/berth-init")})
    if (fs::exists(candidate)) return candidate;
  return exe.parent_path() / "berth-init";
}

// Prepares everything VMs share; blocking, before the actor system starts.
std::shared_ptr<vm::vm_environment> prepare(const daemon_options& o) {
  auto env = std::make_shared<vm::vm_environment>();
  env->data_root = o.data_root;
  env->run_root = o.run_root;
  try {
    env->qemu = os::program_path(o.qemu);
  } catch (const std::system_error& e) {
    die(std::string(e.what()) + " (install qemu-system-x86, or pass --qemu)");
  }
  env->debug = o.debug;
  env->bridge_none = o.bridge_none;
  env->jail = o.jail;
  env->jail_uid_base = o.jail_uid_base;
  env->boot_timeout = std::chrono::seconds(o.boot_timeout_s);
  env->heartbeat_timeout = std::chrono::seconds(o.heartbeat_timeout_s);
  env->accel = vm::choose_accelerator(o.accel);
  if (!env->accel.kind) die(env->accel.note);
  env->tsc_khz = vm::tsc_khz();
  env->transport = vm::detect_transport();
  env->qemu_version = vm::qemu_version(env->qemu);
  if (env->qemu_version.empty()) die("cannot run " + env->qemu + " (install qemu-system-x86)");
  auto cache = o.data_root / "cache";
  auto kernel = vm::prepare_kernel(o.kernel, cache);
  if (!kernel)
    die(describe(kernel.error()) + " (scripts/install-deps.sh fetches a kernel, or pass --kernel)");
  env->kernel = *kernel;
  auto agent = o.agent.empty() ? default_agent() : o.agent;
  auto initramfs = vm::build_initramfs(
      env->kernel, agent, vm::guest_modules(env->transport == vm::agent_transport::vsock),
      vm::optional_module_sets(), cache);
  if (!initramfs) die(describe(initramfs.error()));
  env->initramfs = initramfs->path;
  env->module_sets = initramfs->sets;
  return env;
}

// Holds an exclusive lock on DATA/berthd.lock for the daemon's lifetime.
os::unique_fd lock_data_root(const fs::path& root) {
  auto path = root / "berthd.lock";
  os::unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) die("cannot open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    die("another berthd is using the data root " + root.string());
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (::geteuid() != 0) daemon_log.warn("not running as root: VMs may lack permissions");
  std::error_code ec;
  // Whatever berthd creates is its own alone unless it sets a mode (the API socket does): set
  // once, before any thread starts, so that no umask change ever races another thread.
  ::umask(077);
  if (auto ok = secure_roots(opts.data_root, opts.run_root); !ok) die(describe(ok.error()));
  auto lock = lock_data_root(opts.data_root);
  // Uploads of a previous run that died are garbage now.
  for (auto& e : fs::directory_iterator(opts.data_root / "tmp", ec)) fs::remove_all(e.path(), ec);

  // Signals: SIGINT/SIGTERM are read from a signalfd by the main loop; SIGPIPE is ignored.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  os::unique_fd sigfd(::signalfd(-1, &stop_signals, SFD_CLOEXEC));

  auto env = prepare(opts);
  daemon_log.info("version {}: {}; kernel {} ({}); agent over {}; data root {}", berthd_version,
                  env->accel.note, env->kernel.release, env->kernel.boot_image.string(),
                  vm::to_string(env->transport), opts.data_root.string());

  // The jail's output chain: a jailed QEMU (its user-mode network above all) may open nothing to
  // the host's own addresses or out of a berth bridge. Without the jail nothing tells QEMU's
  // sockets from berthd's, so there is no rule to make (docs/networking.md).
  bool jail_table = false;
  if (opts.jail) {
    if (auto err = net::install_jail_firewall(net::jail_nft_table, opts.jail_uid_base))
      daemon_log.error(
          "cannot set up the jail's firewall (user-mode guests reach the host's "
          "loopback): {}",
          describe(err));
    else
      jail_table = true;
  }

  int exit_code = 0;
  bool keep_jail_table = true;
  {
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    cfg.add_message_types<caf::id_block::berth>();
    caf::actor_system sys{cfg};
    auto root = spawn_root(sys, opts, env);
    {
      caf::scoped_actor self{sys};
      self->monitor(root);
      bool root_down = false;
      caf::error root_reason;
      for (;;) {
        pollfd p{sigfd.get(), POLLIN, 0};
        ::poll(&p, 1, 200);
        if (p.revents & POLLIN) {
          signalfd_siginfo info{};
          [[maybe_unused]] auto n = ::read(sigfd.get(), &info, sizeof info);
          daemon_log.info("received {}; stopping", strsignal(static_cast<int>(info.ssi_signo)));
          break;
        }
        self->receive(
            [&](caf::down_msg& msg) {
              root_down = true;
              root_reason = msg.reason;
            },
            caf::after(std::chrono::milliseconds(0)) >> [] {});
        if (root_down) break;
      }
      if (root_down) {
        daemon_log.error("the supervision tree gave up: {}", describe(root_reason));
        exit_code = 1;
      } else {
        // Clean stop. With live restore, running containers keep running (their VMs are in
        // sessions of their own) and so do their networks; else every container stops (and
        // its VM ends), then the tree goes down and the networks with it.
        auto vms = sys.registry().get<vm_supervisor_actor>(registry_key(vm_supervisor_name));
        auto nets = sys.registry().get<net_supervisor_actor>(registry_key(net_supervisor_name));
        uint32_t running = 0;
        if (vms && opts.live_restore)
          self->request(vms, std::chrono::seconds(10), info_atom_v)
              .receive([&](api::system_info& info) { running = info.containers_running; },
                       [](caf::error&) {});
        keep_jail_table = running > 0;
        if (running > 0) {
          daemon_log.info("live restore: leaving {} containers running for the next berthd",
                          running);
          if (nets)
            self->request(nets, std::chrono::seconds(10), keep_atom_v)
                .receive([] {}, [](caf::error&) {});
        } else if (vms) {
          self->request(vms, std::chrono::seconds(90), shutdown_atom_v)
              .receive([] {},
                       [](caf::error& err) {
                         daemon_log.warn("not every container stopped cleanly: {}", describe(err));
                       });
        }
        // The net supervisor takes its bridges, taps and nft table down after the root is gone
        // (unless told to keep them): wait for it (at most 30 s), or the process could end with
        // the table still there.
        if (nets) self->monitor(nets);
        self->send_exit(root, caf::exit_reason::user_shutdown);
        for (int downs = nets ? 2 : 1; downs > 0;) {
          bool timed_out = false;
          self->receive([&](caf::down_msg&) { --downs; },
                        caf::after(std::chrono::seconds(30)) >> [&] { timed_out = true; });
          if (timed_out) {
            daemon_log.warn("the network service did not stop within 30 s");
            break;
          }
        }
      }
    }
    root = nullptr;
  }
  // VMs left running (live restore, or a tree that gave up) keep the jail's rules.
  if (jail_table && !keep_jail_table)
    if (auto err = net::remove_jail_firewall(net::jail_nft_table))
      daemon_log.warn("cannot delete the jail's nft table: {}", describe(err));
  daemon_log.info("berthd stopped");
  return exit_code;
}
