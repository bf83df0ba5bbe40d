// pull_bench: how long berth takes to pull a ~120 MB image from a local registry until its disk
// is ready to boot, next to `skopeo copy` + `umoci unpack` and `podman pull`, in one run.
//
// The image is a Debian minbase root filesystem (debootstrap, cached), as one layer and as four
// (usr/lib, the rest of usr, var, everything else), each gzip and zstd, pushed to a
// docker-registry on 127.0.0.1 started here. Then, alternating so that machine load hits all
// alike, each tool pulls into fresh directories:
//   berth   library level: pull into an empty content store (layers in parallel), unpack,
//           mkfs.erofs; done when rootfs.erofs is in place;
//   skopeo  `skopeo copy docker://... oci:DIR:t` then `umoci unpack` (umoci 0.4.7 cannot unpack
//           zstd: those rows say n/a);
//   podman  `podman pull` into a throwaway --root/--runroot (overlay driver).
// Everything is written under --dir (default: a tmpfs this program mounts and unmounts), because
// the root disk here creates files slowly; say --dir /var/tmp/x to measure on disk.
//
//   build/bin/pull_bench [--runs N] [--dir DIR] [--rootfs DIR]
//     (as root; needs docker-registry, skopeo, umoci, podman, mkfs.erofs, and debootstrap unless
//     the rootfs is cached in /var/cache/berth/bench/minbase-bookworm)
#include "berth/image/content_store.hpp"
#include "berth/image/erofs.hpp"
#include "berth/image/registry.hpp"
#include "berth/image/unpack.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

namespace fs = std::filesystem;
using namespace berth;
using clock_type = std::chrono::steady_clock;

namespace {

// Undoes what main set up (the tmpfs mount, the work directory, the registry) before an exit.
std::function<void()> on_exit_cleanup;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "pull_bench: %s\n", msg.c_str());
  if (on_exit_cleanup) on_exit_cleanup();
  std::exit(1);
}

bool have(const std::string& program) {
  return os::run({"sh", "-c", "command -v " + program}).exit_code == 0;
}

os::run_result sh(const std::string& script) {
  return os::run({"sh", "-c", script}, std::chrono::minutes(10), 1 << 20);
}

void must(const std::string& script) {
  auto r = sh(script);
  if (r.exit_code != 0) die("failed: " + script + "\n" + r.output + r.errors);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string hex_of(const std::string& digest) {
  return digest.substr(7);
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string sha256_file(const fs::path& p) {
  auto d = image::sha256_of_file(p);
  if (!d) die(describe(d.error()));
  return d->digest;
}

// Writes an OCI layout at `dir` (tag t) whose layers are the gzip tars `layers` (with diff ids).
void write_layout(const fs::path& dir,
                  const std::vector<std::pair<fs::path, std::string>>& layers) {
  fs::create_directories(dir / "blobs" / "sha256");
  nlohmann::json config{{"architecture", "amd64"},
                        {"os", "linux"},
                        {"created", "2024-01-01T00:00:00Z"},
                        {"config", {{"Cmd", {"bash"}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", nlohmann::json::array()}}}};
  nlohmann::json manifest_layers = nlohmann::json::array();
  for (auto& [blob, diff_id] : layers) {
    auto digest = sha256_file(blob);
    auto size = fs::file_size(blob);
    fs::copy_file(blob, dir / "blobs" / "sha256" / hex_of(digest),
                  fs::copy_options::overwrite_existing);
    config["rootfs"]["diff_ids"].push_back(diff_id);
    manifest_layers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                               {"digest", digest},
                               {"size", size}});
  }
  auto add = [&](const std::string& text) {
    auto digest = image::sha256_of(text);
    os::write_file_atomic(dir / "blobs" / "sha256" / hex_of(digest), text);
    return std::make_pair(digest, text.size());
  };
  auto [cdigest, csize] = add(config.dump());
  nlohmann::json manifest{{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"config",
                           {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                            {"digest", cdigest},
                            {"size", csize}}},
                          {"layers", manifest_layers}};
  auto [mdigest, msize] = add(manifest.dump());
  nlohmann::json index{{"schemaVersion", 2},
                       {"manifests",
                        {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"digest", mdigest},
                          {"size", msize},
                          {"annotations", {{"org.opencontainers.image.ref.name", "t"}}}}}}};
  os::write_file_atomic(dir / "index.json", index.dump());
  os::write_file_atomic(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

struct registry_process {
  pid_t pid = -1;
  std::string host;
  registry_process(const fs::path& dir) {
    auto port = free_port();
    host = "127.0.0.1:" + std::to_string(port);
    auto config = dir / "registry.yml";
    os::write_file_atomic(config,
                          "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: "
                          "true\nstorage:\n  filesystem:\n"
                          "    rootdirectory: " +
                              (dir / "registry").string() + "\nhttp:\n  addr: " + host + "\n");
    os::unique_fd log{
        ::open((dir / "registry.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    os::spawn_options o;
    o.stdout_fd = log.get();
    o.stderr_fd = log.get();
    pid = os::spawn({"docker-registry", "serve", config.string()}, o);
    for (int i = 0; i < 500; ++i) {
      if (os::run({"curl", "-sf", "http://" + host + "/v2/"}).exit_code == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    die("docker-registry did not start");
  }
  ~registry_process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      os::wait_exit(pid);
    }
  }
};

// Where berth's time went in the last berth_pull: download, unpack, mkfs.erofs (s).
double last_download = 0, last_unpack = 0, last_mkfs = 0;

double berth_pull(const std::string& ref_text, const fs::path& work) {
  auto t0 = clock_type::now();
  auto store = image::content_store::open(work / "content");
  if (!store) die(describe(store.error()));
  auto ref = image::parse_reference(ref_text);
  image::registry_options opts;
  auto pulled = image::pull_image(*store, *ref, opts);
  if (!pulled) die("berth pull: " + describe(pulled.error()));
  auto t1 = clock_type::now();
  auto rootfs = work / "rootfs";
  fs::create_directories(rootfs);
  auto unpacked =
      image::unpack_layers(*store, pulled->image.layers, rootfs, pulled->image.config.diff_ids);
  if (!unpacked) die("berth unpack: " + describe(unpacked.error()));
  auto t2 = clock_type::now();
  auto built = image::build_erofs(rootfs, work / "rootfs.erofs");
  if (!built) die("berth mkfs.erofs: " + describe(built.error()));
  auto t3 = clock_type::now();
  last_download = std::chrono::duration<double>(t1 - t0).count();
  last_unpack = std::chrono::duration<double>(t2 - t1).count();
  last_mkfs = std::chrono::duration<double>(t3 - t2).count();
  return std::chrono::duration<double>(t3 - t0).count();
}

double timed(const std::string& script) {
  auto t0 = clock_type::now();
  must(script);
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  fs::path dir;
  fs::path rootfs = "/var/cache/berth/bench/minbase-bookworm";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (a == "--dir" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--rootfs" && i + 1 < argc)
      rootfs = argv[++i];
    else
      die("usage: pull_bench [--runs N] [--dir DIR] [--rootfs DIR]");
  }
  for (auto p : {"docker-registry", "skopeo", "umoci", "podman", "mkfs.erofs", "curl"})
    if (!have(p))
      die(std::string{p} +
          " is not installed (apt-get install docker-registry skopeo umoci podman erofs-utils "
          "curl)");
  if (!fs::exists(rootfs / "usr" / "bin" / "bash")) {
    if (!have("debootstrap"))
      die("no cached rootfs at " + rootfs.string() +
          " and debootstrap is not installed: apt-get install debootstrap, or pass --rootfs DIR");
    std::printf("building a Debian minbase rootfs with debootstrap into %s (once)...\n",
                rootfs.c_str());
    fs::create_directories(rootfs.parent_path());
    must("rm -rf '" + rootfs.string() + ".tmp' && debootstrap --variant=minbase bookworm '" +
         rootfs.string() + ".tmp' http://deb.debian.org/debian >/dev/null && rm -rf '" +
         rootfs.string() + ".tmp'/var/cache/apt/archives/*.deb '" + rootfs.string() +
         ".tmp'/var/lib/apt/lists/* && mv '" + rootfs.string() + ".tmp' '" + rootfs.string() + "'");
  }
  char tmpl[] = "/tmp/berth-pull-bench.XXXXXX";
  fs::path base = ::mkdtemp(tmpl);
  bool mounted = false;
  if (dir.empty()) {
    dir = base / "tmpfs";
    fs::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=6g") != 0)
      die("cannot mount a tmpfs (run as root)");
    mounted = true;
  }
  struct cleanup {
    fs::path base, dir;
    bool mounted;
    ~cleanup() {
      if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
      std::error_code ec;
      fs::remove_all(base, ec);
    }
  } cleanup_guard{base, dir, mounted};
  on_exit_cleanup = [base, dir, mounted] {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(base, ec);
  };
  auto work = dir / "work";
  fs::create_directories(work);

  // The layers: one tar of everything, and four tars that split it.
  auto size_mb = std::stod(sh("du -sm '" + rootfs.string() + "' | cut -f1").output);
  std::printf("rootfs %s: %.0f MB\n", rootfs.c_str(), size_mb);
  auto tar = "tar --numeric-owner --xattrs --sort=name -C '" + rootfs.string() + "' -cf - ";
  auto make_layer = [&](const std::string& name, const std::string& what) {
    auto out = work / (name + ".tar.gz");
    must(tar + what + " | tee '" + (work / (name + ".tar")).string() + "' | gzip -n > '" +
         out.string() + "'");
    auto diff_id = sha256_file(work / (name + ".tar"));
    fs::remove(work / (name + ".tar"));
    return std::make_pair(out, diff_id);
  };
  std::vector<std::pair<fs::path, std::string>> one{make_layer("all", ".")};
  std::vector<std::pair<fs::path, std::string>> four{
      make_layer("usrlib", "./usr/lib"), make_layer("usr", "--exclude=./usr/lib ./usr"),
      make_layer("var", "./var"), make_layer("rest", "--exclude=./usr --exclude=./var .")};
  write_layout(work / "one-gzip", one);
  write_layout(work / "four-gzip", four);
  for (auto n : {"one", "four"})
    must("skopeo copy --quiet --dest-compress-format zstd oci:" +
         (work / (std::string{n} + "-gzip")).string() +
         ":t oci:" + (work / (std::string{n} + "-zstd")).string() + ":t");
  std::printf("one layer: %.1f MB gzip; four layers: %.1f MB gzip\n",
              fs::file_size(one[0].first) / 1e6, [&] {
                double s = 0;
                for (auto& l : four) s += fs::file_size(l.first);
                return s / 1e6;
              }());

  registry_process reg{work};
  on_exit_cleanup = [base, dir, mounted, pid = reg.pid] {
    ::kill(pid, SIGTERM);
    os::wait_exit(pid);
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(base, ec);
  };
  std::vector<std::string> variants{"one-gzip", "one-zstd", "four-gzip", "four-zstd"};
  for (auto& v : variants)
    must("skopeo copy --quiet --dest-tls-verify=false oci:" + (work / v).string() + ":t docker://" +
         reg.host + "/bench/" + v + ":t");

  // podman: a throwaway store; crun refuses this machine's cgroup layout, and pulls need none of
  // it. Its runroot (small runtime state) must have a short path.
  auto podman = [&](const fs::path& root, const std::string& args) {
    return "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; "
           "podman --root " +
           (root / "root").string() + " --runroot " + (base / "r").string() + " --tmpdir " +
           (root / "tmp").string() + " --storage-driver overlay " + args + " >/dev/null'";
  };

  std::map<std::string, std::map<std::string, std::vector<double>>> times;  // variant -> tool -> s
  auto scratch = dir / "scratch";
  for (int run = 0; run < runs; ++run) {
    for (auto& v : variants) {
      auto ref = reg.host + "/bench/" + v + ":t";
      std::error_code ec;
      fs::remove_all(scratch, ec);
      fs::create_directories(scratch);
      times[v]["berth"].push_back(berth_pull(ref, scratch / "berth"));
      times[v]["download"].push_back(last_download);
      times[v]["unpack"].push_back(last_unpack);
      times[v]["mkfs"].push_back(last_mkfs);
      fs::remove_all(scratch, ec);
      fs::create_directories(scratch);
      if (v.find("zstd") == std::string::npos)
        times[v]["skopeo+umoci"].push_back(timed(
            "skopeo copy --quiet --src-tls-verify=false docker://" + ref +
            " oci:" + (scratch / "oci").string() + ":t && umoci unpack --image " +
            (scratch / "oci").string() + ":t " + (scratch / "bundle").string() + " >/dev/null"));
      fs::remove_all(scratch, ec);
      fs::create_directories(scratch / "podman" / "tmp");
      times[v]["podman"].push_back(
          timed(podman(scratch / "podman", "pull --quiet --tls-verify=false " + ref)));
      sh(podman(scratch / "podman", "system reset --force"));
      fs::remove_all(scratch, ec);
      fs::remove_all(base / "r", ec);
    }
    std::printf("run %d/%d done\n", run + 1, runs);
    std::fflush(stdout);
  }
  std::printf("\nmedian of %d runs, unpacking under %s%s\n\n", runs, dir.c_str(),
              mounted ? " (tmpfs)" : "");
  std::printf(
      "| image | berth | skopeo + umoci | podman pull | skopeo+umoci / berth | podman / berth |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (auto& v : variants) {
    auto b = median(times[v]["berth"]);
    auto s = median(times[v]["skopeo+umoci"]);
    auto p = median(times[v]["podman"]);
    auto fmt_s = [](double x) {
      return x > 0 ? std::to_string(x).substr(0, 4) + " s" : std::string{"n/a"};
    };
    auto ratio = [&](double x) {
      return x > 0 ? std::to_string(x / b).substr(0, 4) : std::string{"n/a"};
    };
    std::printf("| %s | %s | %s | %s | %s | %s |\n", v.c_str(), fmt_s(b).c_str(), fmt_s(s).c_str(),
                fmt_s(p).c_str(), ratio(s).c_str(), ratio(p).c_str());
  }
  std::printf("\nberth's time by step (median): download and verify | unpack | mkfs.erofs\n");
  for (auto& v : variants)
    std::printf("  %-10s %.2f s | %.2f s | %.2f s\n", v.c_str(), median(times[v]["download"]),
                median(times[v]["unpack"]), median(times[v]["mkfs"]));
  return 0;
}
