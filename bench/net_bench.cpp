// net_bench: TCP throughput and request latency to a container, from the host and from another
// container on the same berth network, beside the floor of two plain network namespaces joined by
// a veth pair, measured with the same tools in the same run.
//
// The server is busybox httpd (a 64 MiB file and a 3-byte one, both on a tmpfs); the client is
// busybox nc speaking HTTP/1.0 (the host's busybox-static, the image's busybox), so both ends are
// the same programs on every path:
//   host -> container:       nc in berthd's network namespace -> the container's address
//   container -> container:  nc in container b -> container a, by name, timed inside b
//   floor:                   nc in one namespace -> httpd in the other, over a veth pair
// Throughput is the 64 MiB download; latency is one small request with a fresh connection. Under
// TCG the guests' side is the bottleneck: see docs/performance.md.
//
//   build/bin/net_bench [--runs N] [--kernel PATH]     (as root)
#include "bench_support.hpp"

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <thread>

using namespace berth;
using namespace berth::bench;

namespace {

constexpr int big_mib = 64;
constexpr int loop = 20;  // requests per latency sample timed inside a shell

// An HTTP/1.0 GET of `path` from `host` with busybox nc, output counted.
std::string get_command(const std::string& host, const std::string& path,
                        const std::string& nc = "busybox nc") {
  return "printf 'GET " + path + " HTTP/1.0\\r\\n\\r\\n' | " + nc + " " + host + " 80 | wc -c";
}

// Seconds from busybox `time`'s "real 0m 1.23s" line.
double busybox_real(const std::string& text) {
  std::smatch m;
  static const std::regex re(R"(real\s+(\d+)m\s*([0-9.]+)s)");
  if (!std::regex_search(text, m, re)) die("no time in: " + text);
  return std::stod(m[1]) * 60 + std::stod(m[2]);
}

// Two network namespaces joined by a veth pair: a server at 10.201.0.1 running busybox httpd,
// a client at 10.201.0.2. Held by two sleeping processes; gone when they are killed.
class veth_floor {
 public:
  explicit veth_floor(const fs::path& www) {
    server_ = os::spawn({"unshare", "-n", "sleep", "100000"});
    client_ = os::spawn({"unshare", "-n", "sleep", "100000"});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    must(in_client(
        "ip link add vb0 type veth peer name vb1 && ip link set vb1 netns " +
        std::to_string(server_) +
        " && ip addr add 10.201.0.2/24 dev vb0 && ip link set vb0 up && ip link set lo up"));
    must(in_server("ip addr add 10.201.0.1/24 dev vb1 && ip link set vb1 up && ip link set lo up"));
    httpd_ = os::spawn({"nsenter", "--net=/proc/" + std::to_string(server_) + "/ns/net", "busybox",
                        "httpd", "-f", "-p", "80", "-h", www.string()});
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ~veth_floor() {
    for (auto p : {httpd_, server_, client_}) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
  }
  os::run_result in_client(const std::string& cmd) const { return in(client_, cmd); }
  os::run_result in_server(const std::string& cmd) const { return in(server_, cmd); }

 private:
  static os::run_result in(pid_t holder, const std::string& cmd) {
    return os::run(
        {"nsenter", "--net=/proc/" + std::to_string(holder) + "/ns/net", "sh", "-c", cmd},
        std::chrono::seconds(300));
  }
  static void must(const os::run_result& r) {
    if (r.exit_code != 0) die("veth floor: " + r.errors);
  }
  pid_t server_ = -1, client_ = -1, httpd_ = -1;
};

void row(const char* name, const std::vector<double>& v, double floor, const char* unit) {
  std::printf("%-44s %10.2f %10.2f %s   %6.2f\n", name, median(v), floor, unit, median(v) / floor);
}

}  // namespace

int main(int argc, char** argv) {
  auto [runs, kernel] = parse_vm_options(argc, argv, "net_bench", 5);

  bench::daemon d(kernel);
  auto serve = "mkdir -p /dev/shm/www && head -c " + std::to_string(big_mib) +
               "m /dev/zero > /dev/shm/www/big && echo hi > /dev/shm/www/small && exec httpd -f -p "
               "80 -h /dev/shm/www";
  d.ok({"run", "-d", "--name", "a", "-m", "512m", "busybox", "sh", "-c", serve});
  d.ok({"run", "-d", "--name", "b", "busybox", "sleep", "1000000"});
  auto inspect = nlohmann::json::parse(d.ok({"inspect", "a"}));
  auto ip = inspect.at(0)
                .at("NetworkSettings")
                .at("Networks")
                .at("default")
                .at("IPAddress")
                .get<std::string>();
  auto netns = "--net=/proc/" + std::to_string(d.pid()) + "/ns/net";
  auto from_host = [&](const std::string& cmd) {
    return os::run({"nsenter", netns, "sh", "-c", cmd}, std::chrono::seconds(300));
  };
  // Wait for httpd in a (it writes the big file first).
  for (int i = 0; std::atoi(from_host(get_command(ip, "/small")).output.c_str()) == 0; ++i) {
    if (i > 600) {
      auto probe = from_host(get_command(ip, "/small"));
      die("container a (" + ip + ") does not serve: " + probe.output + probe.errors + "\n" +
          d.berth({"ps", "-a"}).output + d.berth({"logs", "a"}).output +
          d.berth({"logs", "a"}).errors);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  auto www = d.root() / "floor-www";
  fs::create_directories(www);
  os::run({"sh", "-c",
           "head -c " + std::to_string(big_mib) + "m /dev/zero > " + (www / "big").string() +
               " && echo hi > " + (www / "small").string()});
  veth_floor floor(www);

  const auto big_bytes = static_cast<double>(big_mib) * (1 << 20);
  std::vector<double> h_tp, c_tp, f_tp, h_lat, c_lat, f_lat;
  auto timed = [](auto fn) {
    auto t = clock_type::now();
    auto r = fn();
    if (r.exit_code != 0) die("probe failed: " + r.errors);
    return seconds_since(t);
  };
  auto in_b = [&](const std::string& cmd) {
    auto r = d.berth({"exec", "b", "sh", "-c", "time sh -c \"" + cmd + "\""});
    if (r.exit_code != 0) die("exec in b failed: " + r.errors);
    return busybox_real(r.errors + r.output);
  };
  auto loop_of = [](const std::string& one) {
    std::string list;
    for (int i = 1; i <= loop; ++i) list += " " + std::to_string(i);
    return "for i in" + list + "; do " + one + " >/dev/null; done";
  };
  auto small_get = [](const std::string& host, const std::string& nc = "busybox nc") {
    return "printf 'GET /small HTTP/1.0\\r\\n\\r\\n' | " + nc + " " + host + " 80";
  };

  std::printf(
      "net_bench: %d runs, %d MiB download, latency = one HTTP/1.0 request on a new connection\n",
      runs, big_mib);
  for (int r = 0; r < runs; ++r) {
    h_tp.push_back(big_bytes / timed([&] { return from_host(get_command(ip, "/big")); }) / 1e6);
    f_tp.push_back(big_bytes /
                   timed([&] { return floor.in_client(get_command("10.201.0.1", "/big")); }) / 1e6);
    c_tp.push_back(big_bytes / in_b(get_command("a", "/big", "nc")) / 1e6);
    // Latency: a loop of requests timed inside one shell, on each path, so no process start of
    // the bench's own is in the figure.
    auto host_loop =
        from_host("busybox time busybox sh -c \"" + loop_of(small_get(ip)) + "\" 2>&1");
    h_lat.push_back(busybox_real(host_loop.output + host_loop.errors) / loop * 1000);
    auto floor_loop = floor.in_client("busybox time busybox sh -c \"" +
                                      loop_of(small_get("10.201.0.1")) + "\" 2>&1");
    f_lat.push_back(busybox_real(floor_loop.output + floor_loop.errors) / loop * 1000);
    c_lat.push_back(in_b(loop_of(small_get("a", "nc"))) / loop * 1000);
  }

  std::printf("\n%-44s %10s %10s      %6s\n", "", "berth", "veth floor", "ratio");
  row("TCP throughput, host -> container (MB/s)", h_tp, median(f_tp), "MB/s");
  row("TCP throughput, container -> container", c_tp, median(f_tp), "MB/s");
  row("request latency, host -> container (ms)", h_lat, median(f_lat), "ms  ");
  row("request latency, container -> container", c_lat, median(f_lat), "ms  ");
  d.ok({"rm", "-f", "a", "b"});
  return 0;
}
