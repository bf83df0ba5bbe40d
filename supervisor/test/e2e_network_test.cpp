// End-to-end: container networks. berthd runs in a network namespace of its own (the harness
// holds it), so its bridges, taps, nft table and published ports live there; host-side probes run
// in that namespace through nsenter. Few VMs, each booted once: a web server with published TCP
// and UDP ports and a client on one network, a container on a second network, one on an internal
// network, one on QEMU's user-mode network.
#include "e2e.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

using namespace berth::e2e;
using namespace std::chrono;
using json = nlohmann::json;
using berthd = berth::e2e::daemon;

namespace {

json inspect(const berthd& d, const std::string& what, const std::vector<std::string>& kind = {}) {
  std::vector<std::string> args = kind;
  args.push_back("inspect");
  args.push_back(what);
  return json::parse(d.ok(args)).at(0);
}

std::string ip_of(const berthd& d, const std::string& container, const std::string& network) {
  return inspect(d, container)
      .at("NetworkSettings")
      .at("Networks")
      .at(network)
      .at("IPAddress")
      .get<std::string>();
}

std::string gateway_of(const berthd& d, const std::string& network) {
  return inspect(d, network, {"network"})
      .at("IPAM")
      .at("Config")
      .at(0)
      .at("Gateway")
      .get<std::string>();
}

// container id -> leased address on a network.
std::map<std::string, std::string> leases_of(const berthd& d, const std::string& network) {
  std::map<std::string, std::string> out;
  auto info = inspect(d, network, {"network"});  // kept: items() refers into it
  for (auto& c : info.at("Containers"))
    out[c.at("Name").get<std::string>()] = c.at("IPv4Address").get<std::string>();
  return out;
}

// A static UDP echo server for the guest (busybox has no UDP server), in DIR/udpecho.
void build_udp_echo(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "udpecho.c") << R"(#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char** argv) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(atoi(argv[1]));
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) return 1;
  for (;;) {
    char buf[2048];
    struct sockaddr_in p;
    socklen_t l = sizeof p;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&p, &l);
    if (n > 0) sendto(fd, buf, n, 0, (struct sockaddr*)&p, l);
  }
}
)";
  auto r = berth::os::run(
      {"cc", "-static", "-O2", "-o", (dir / "udpecho").string(), (dir / "udpecho.c").string()},
      seconds(60));
  INFO(r.errors);
  REQUIRE(r.exit_code == 0);
}

// One UDP datagram to 127.0.0.1:port in berthd's namespace; the answer, or "" after 5 s.
std::string udp_roundtrip(const berthd& d, int port, const std::string& text) {
  auto r = d.in_netns({"/usr/bin/python3", "-c",
                       "import socket,sys\n"
                       "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                       "s.settimeout(1)\n"
                       "for i in range(5):\n"
                       "  s.sendto(sys.argv[2].encode(),('127.0.0.1',int(sys.argv[1])))\n"
                       "  try:\n"
                       "    print(s.recv(2048).decode()); break\n"
                       "  except socket.timeout: pass\n",
                       std::to_string(port), text});
  return r.out;
}

// An HTTP GET with busybox nc (busybox-static 1.35's wget crashes here); the whole response.
std::vector<std::string> http_get(const std::string& host, int port = 80) {
  return {"sh", "-c",
          "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " + host + " " +
              std::to_string(port)};
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// From berthd's namespace (curl; busybox wget crashes): the body, or "".
std::string host_get(const berthd& d, const std::string& url) {
  return d.in_netns({"curl", "-s", "-m", "5", url}).out;
}

const std::string web_script =
    "mkdir -p /www && echo hello-web > /www/index.html && (/tools/udpecho 53 &) && exec httpd -f "
    "-p 80 -h /www";

}  // namespace

TEST_CASE("containers on bridge networks: names, isolation, internal networks, published ports") {
  auto& d = berthd::get();
  auto tools = d.root() / "tools";
  build_udp_echo(tools);
  d.ok({"network", "create", "front"});
  d.ok({"network", "create", "--subnet", "10.91.7.0/24", "back"});
  d.ok({"network", "create", "--internal", "intern"});
  auto ls = d.ok({"network", "ls"});
  for (auto n : {"default", "front", "back", "intern"}) CHECK(ls.find(n) != std::string::npos);
  CHECK(d.berth({"network", "create", "front"}).code != 0);

  d.ok({"run",
        "-d",
        "--name",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "-p",
        "127.0.0.1:18080:80",
        "-p",
        "127.0.0.1::80",
        "-p",
        "127.0.0.1:18053:53/udp",
        "-v",
        tools.string() + ":/tools:ro",
        "busybox",
        "sh",
        "-c",
        web_script});
  d.ok({"run", "-d", "--name", "client", "--network", "front", "busybox", "sleep", "3600"});
  d.ok({"run", "-d", "--name", "other", "--network", "back", "busybox", "sleep", "3600"});
  d.ok({"run", "-d", "--name", "walled", "--network", "intern", "busybox", "sleep", "3600"});

  auto web_ip = ip_of(d, "web", "front");
  auto client_ip = ip_of(d, "client", "front");
  CHECK(web_ip != client_ip);
  CHECK(ip_of(d, "other", "back").rfind("10.91.7.", 0) == 0);
  auto web = inspect(d, "web");
  CHECK(web.at("NetworkSettings")
            .at("Networks")
            .at("front")
            .at("MacAddress")
            .get<std::string>()
            .rfind("02:", 0) == 0);
  auto web_ports = web.at("NetworkSettings").at("Ports").at("80/tcp");
  REQUIRE(web_ports.size() == 2);
  CHECK(web_ports.at(0).at("HostPort") == "18080");
  // -p 127.0.0.1::80: a free host port, resolved when the container started.
  auto free_port = web_ports.at(1).at("HostPort").get<std::string>();
  CHECK(free_port != "0");
  CHECK(d.ok({"ps"}).find("127.0.0.1:18080->80/tcp") != std::string::npos);
  auto leases = leases_of(d, "front");
  CHECK(leases["web"] == web_ip);
  CHECK(leases["client"] == client_ip);

  // Same network: by name (the network's DNS), by alias, by address.
  auto fetch = [&](const std::string& c, const std::string& host) {
    std::vector<std::string> args = {"exec", c};
    for (auto& a : http_get(host)) args.push_back(a);
    return d.berth(args, seconds(60));
  };
  CHECK(eventually([&] { return has(fetch("client", web_ip).out, "hello-web"); }, seconds(20)));
  CHECK(has(fetch("client", "web").out, "hello-web"));
  CHECK(has(fetch("client", "www").out, "hello-web"));
  CHECK(d.berth({"exec", "client", "ping", "-c", "1", "-W", "5", "web"}).code == 0);
  // Another network: no way across.
  CHECK(!has(fetch("other", web_ip).out, "hello-web"));
  // An internal network: no route out, not even to a host address on another bridge.
  CHECK(d.berth({"exec", "walled", "ping", "-c", "1", "-W", "2", gateway_of(d, "front")}).code !=
        0);
  CHECK(!has(fetch("walled", web_ip).out, "hello-web"));

  // The host (berthd's namespace) reaches the container by address and through published ports.
  CHECK(host_get(d, "http://" + web_ip + "/") == "hello-web\n");
  CHECK(host_get(d, "http://127.0.0.1:18080/") == "hello-web\n");
  CHECK(host_get(d, "http://127.0.0.1:" + free_port + "/") == "hello-web\n");
  CHECK(udp_roundtrip(d, 18053, "ping-udp") == "ping-udp\n");

  // A taken host port fails the start with a clear message; the container does not run.
  auto clash = d.berth({"run", "-d", "--name", "clash", "--network", "front", "-p",
                        "127.0.0.1:18080:80", "busybox", "sleep", "100"});
  CHECK(clash.code != 0);
  CHECK(clash.err.find("already in use") != std::string::npos);
  CHECK(d.ok({"ps", "-q"}).find(inspect(d, "clash").at("Id").get<std::string>().substr(0, 12)) ==
        std::string::npos);
  d.ok({"rm", "clash"});

  // A network in use cannot go; an unknown network fails the create.
  auto rm = d.berth({"network", "rm", "front"});
  CHECK(rm.code != 0);
  CHECK(!rm.err.empty());
  auto unknown = d.berth({"create", "--network", "nosuchnet", "busybox"});
  CHECK(unknown.code != 0);
  CHECK(unknown.err.find("nosuchnet") != std::string::npos);
  CHECK(d.berth({"run", "--rm", "--network", "none", "-p", "80", "busybox", "true"}).code != 0);
}

TEST_CASE("user-mode networking publishes ports through QEMU") {
  auto& d = berthd::get();
  d.ok({"run", "-d", "--name", "slirp", "--network", "user", "-p", "127.0.0.1:18090:80", "busybox",
        "sh", "-c",
        "mkdir -p /www && echo hello-user > /www/index.html && exec httpd -f -p 80 -h /www"});
  CHECK(inspect(d, "slirp").at("HostConfig").at("NetworkMode") == "user");
  CHECK(eventually([&] { return host_get(d, "http://127.0.0.1:18090/") == "hello-user\n"; },
                   seconds(30)));
  d.ok({"rm", "-f", "slirp"});
}

TEST_CASE("leases survive berthd restarts and crashes, no address is handed out twice") {
  auto& d = berthd::get();
  auto web_ip = ip_of(d, "web", "front");
  auto client_ip = ip_of(d, "client", "front");
  std::set<std::string> taken{web_ip, client_ip};

  d.restart();
  CHECK(ip_of(d, "web", "front") == web_ip);
  CHECK(leases_of(d, "front")["web"] == web_ip);
  d.ok({"create", "--name", "late", "--network", "front", "busybox", "true"});
  auto late_ip = ip_of(d, "late", "front");
  CHECK(taken.count(late_ip) == 0);
  taken.insert(late_ip);

  d.crash_and_restart();
  CHECK(ip_of(d, "web", "front") == web_ip);
  CHECK(ip_of(d, "late", "front") == late_ip);
  d.ok({"create", "--name", "late2", "--network", "front", "busybox", "true"});
  CHECK(taken.count(ip_of(d, "late2", "front")) == 0);

  // Started again, the container has its address and its published ports back.
  d.ok({"start", "web"});
  CHECK(eventually([&] { return host_get(d, "http://127.0.0.1:18080/") == "hello-web\n"; },
                   seconds(30)));
  CHECK(host_get(d, "http://" + web_ip + "/") == "hello-web\n");
}

TEST_CASE("run -P publishes the ports the image exposes, -p takes ranges") {
  auto& d = berthd::get();
  auto built = berth::os::run(
      {"env", "IMAGE_NAME=docker.io/library/exposing:1",
       "IMAGE_CONFIG={\"Cmd\":[\"sh\"],\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}}}", "sh",
       (source_dir() / "scripts/fixtures/busybox-image.sh").string(), d.images().string()},
      seconds(60));
  REQUIRE(built.exit_code == 0);
  d.ok({"image", "load", "-i", (d.images() / "exposing.tar").string()});
  d.ok({"create", "--name", "puball", "-P", "-p", "127.0.0.1:18100-18101:8100-8101", "exposing:1"});
  auto ports = inspect(d, "puball").at("NetworkSettings").at("Ports");
  CHECK(ports.contains("80/tcp"));
  CHECK(ports.contains("53/udp"));
  CHECK(ports.at("8100/tcp").at(0).at("HostPort") == "18100");
  CHECK(ports.at("8101/tcp").at(0).at("HostPort") == "18101");
  d.ok({"rm", "puball"});
  CHECK(d.berth({"create", "-p", "1-3:80-81", "busybox"}).code != 0);
  CHECK(d.berth({"create", "-p", "80/sctp", "busybox"}).code != 0);
}

TEST_CASE("removing containers and networks, then stopping berthd, leaves nothing behind") {
  auto& d = berthd::get();
  for (auto c : {"web", "client", "other", "walled", "late", "late2"}) d.berth({"rm", "-f", c});
  CHECK(leases_of(d, "front").empty());
  CHECK(d.ok({"network", "rm", "front", "back", "intern"}) == "front\nback\nintern\n");
  CHECK(d.berth({"network", "inspect", "front"}).code != 0);
  CHECK(d.berth({"network", "rm", "default"}).code != 0);
  auto links = d.in_netns({"ip", "-o", "link"}).out;
  INFO(links);
  CHECK(links.find(": tb") == std::string::npos);
  CHECK(d.stop() == 0);
  links = d.in_netns({"ip", "-o", "link"}).out;
  CHECK(links.find("brth-") == std::string::npos);
  CHECK(links.find(": tb") == std::string::npos);
  auto tables = d.in_netns({"nft", "list", "tables"});
  CHECK(tables.code == 0);
  CHECK(tables.out.find("berth") == std::string::npos);
  CHECK(qemu_processes(d.root().string()).empty());
}
