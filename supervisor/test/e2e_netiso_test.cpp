// End-to-end attacks on network isolation (issue 11, hole 6): hostile guests on berth's networks
// try to reach host services, other networks and their DNS responders, to escape an internal
// network by adding routes, and to impersonate another container or the gateway by changing
// their IP and MAC; a guest on QEMU's user-mode network tries to reach the host's loopback and
// bridges. berthd runs in a network namespace of its own (the harness holds it); the host listeners
// the guests aim at are opened by this test in that namespace. Four VMs, each booted once.
#include "e2e.hpp"

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <sstream>

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

json endpoint_of(const berthd& d, const std::string& container, const std::string& network) {
  return inspect(d, container).at("NetworkSettings").at("Networks").at(network);
}

std::string gateway_of(const berthd& d, const std::string& network) {
  return inspect(d, network, {"network"})
      .at("IPAM")
      .at("Config")
      .at(0)
      .at("Gateway")
      .get<std::string>();
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// What the host's listeners answer to every connection: a guest that reads it reached them.
const std::string secret = "host-secret";
constexpr int any_port = 18111;       // listens on 0.0.0.0: every host address
constexpr int loopback_port = 18112;  // listens on 127.0.0.1 only

// What the host (berthd's namespace) reads from HOST:PORT within 2 s ("" if nothing).
std::string host_read(const berthd& d, const std::string& host, int port) {
  return d
      .in_netns({"/usr/bin/python3", "-c",
                 "import socket,sys\n"
                 "try:\n"
                 "  s=socket.create_connection((sys.argv[1],int(sys.argv[2])),2)\n"
                 "  s.settimeout(2); print(s.recv(64).decode())\n"
                 "except OSError: pass\n",
                 host, std::to_string(port)})
      .out;
}

// TCP listeners in berthd's namespace that write `secret` to every connection; ended (by pid)
// when the test ends.
class host_listeners {
 public:
  explicit host_listeners(const berthd& d) {
    berth::os::spawn_options opts;
    pid_ = berth::os::spawn(
        {"nsenter", "--net=/proc/" + std::to_string(d.netns_holder()) + "/ns/net",
         "/usr/bin/python3", "-c",
         "import select,socket,sys\n"
         "ls=[]\n"
         "for a,p in (('0.0.0.0',int(sys.argv[1])),('127.0.0.1',int(sys.argv[2]))):\n"
         "  s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
         "  s.bind((a,p)); s.listen(16); ls.append(s)\n"
         "while True:\n"
         "  for s in select.select(ls,[],[])[0]:\n"
         "    c,_=s.accept(); c.sendall(b'" +
             secret + "\\n'); c.close()\n",
         std::to_string(any_port), std::to_string(loopback_port)},
        opts);
  }
  /// Whether the host itself reads the secret from both (within 20 s).
  bool ready(const berthd& d) const {
    return eventually(
        [&] {
          return has(host_read(d, "127.0.0.1", loopback_port), secret) &&
                 has(host_read(d, "127.0.0.1", any_port), secret);
        },
        seconds(20));
  }
  ~host_listeners() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_ = -1;
};

// `berth exec CONTAINER sh -c SCRIPT`.
result sh(const berthd& d, const std::string& container, const std::string& script) {
  return d.berth({"exec", container, "sh", "-c", script}, seconds(90));
}

// What a guest reads from HOST:PORT within 3 s (busybox nc).
std::string guest_read(const berthd& d, const std::string& container, const std::string& host,
                       int port) {
  return sh(d, container, "sleep 2 | nc -w 3 " + host + " " + std::to_string(port)).out;
}

// An HTTP GET from a guest (busybox nc); the whole response.
std::string guest_get(const berthd& d, const std::string& container, const std::string& host) {
  return sh(d, container, "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " + host + " 80")
      .out;
}

// Whether a guest's lookup of NAME through the DNS server SERVER answers ADDRESS.
bool resolves(const berthd& d, const std::string& container, const std::string& name,
              const std::string& server, const std::string& address) {
  auto r = sh(d, container, "timeout 8 nslookup " + name + " " + server);
  return r.code == 0 && has(r.out, address);
}

// The echo requests a guest's kernel received so far (Icmp InEchos in /proc/net/snmp).
long in_echos(const berthd& d, const std::string& container) {
  auto out = sh(d, container, "cat /proc/net/snmp").out;
  // Two "Icmp:" lines: the names, then the values.
  auto names_at = out.find("Icmp:");
  REQUIRE(names_at != std::string::npos);
  auto values_at = out.find("Icmp:", names_at + 1);
  REQUIRE(values_at != std::string::npos);
  auto line = [&](std::size_t at) {
    std::vector<std::string> words;
    std::string w;
    for (auto i = at; i < out.size() && out[i] != '\n'; ++i) {
      if (out[i] == ' ') {
        words.push_back(w);
        w.clear();
      } else {
        w += out[i];
      }
    }
    words.push_back(w);
    return words;
  };
  auto names = line(names_at);
  auto values = line(values_at);
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
    if (names[i] == "InEchos") return std::stol(values[i]);
  FAIL("no InEchos in /proc/net/snmp: " << out);
  return -1;
}

// The host's neighbour entry for ADDRESS (in berthd's namespace).
std::string host_neighbour(const berthd& d, const std::string& address) {
  return d.in_netns({"ip", "neigh", "show", address}).out;
}

std::string host_get(const berthd& d, const std::string& host) {
  return d.in_netns({"curl", "-s", "-m", "5", "http://" + host + "/"}).out;
}

std::string web(const std::string& text) {
  return "mkdir -p /www && echo " + text + " > /www/index.html && exec httpd -f -p 80 -h /www";
}

}  // namespace

TEST_CASE(
    "hostile guests reach neither host services nor other networks nor each other's "
    "addresses") {
  auto& d = berthd::get();
  d.ok({"network", "create", "--subnet", "10.92.0.0/24", "isoa"});
  d.ok({"network", "create", "--internal", "--subnet", "10.94.0.0/24", "isow"});
  d.ok({"run", "-d", "--name", "victim", "--network", "isoa", "busybox", "sh", "-c",
        web("victim-page")});
  d.ok({"run", "-d", "--name", "spoofer", "--network", "isoa", "busybox", "sleep", "3600"});
  d.ok({"run", "-d", "--name", "inner", "--network", "isow", "busybox", "sh", "-c",
        web("inner-page")});
  host_listeners listeners(d);
  REQUIRE(listeners.ready(d));

  auto gw_a = gateway_of(d, "isoa");
  auto gw_w = gateway_of(d, "isow");
  auto victim = endpoint_of(d, "victim", "isoa");
  auto victim_ip = victim.at("IPAddress").get<std::string>();
  auto victim_mac = victim.at("MacAddress").get<std::string>();
  auto spoofer = endpoint_of(d, "spoofer", "isoa");
  auto spoofer_ip = spoofer.at("IPAddress").get<std::string>();
  auto spoofer_mac = spoofer.at("MacAddress").get<std::string>();
  auto inner_ip = endpoint_of(d, "inner", "isow").at("IPAddress").get<std::string>();

  // Controls: the web servers run (the host reaches both by address, and the proxies' and the
  // host's replies come back through the input chain), the host listener answers on the
  // gateway's address, and the spoofer reaches the victim on their own network.
  REQUIRE(eventually([&] { return host_get(d, victim_ip) == "victim-page\n"; }, seconds(30)));
  REQUIRE(eventually([&] { return host_get(d, inner_ip) == "inner-page\n"; }, seconds(30)));
  CHECK(has(host_read(d, gw_a, any_port), secret));
  CHECK(has(guest_get(d, "spoofer", victim_ip), "victim-page"));

  // A container reaches on the host only its own gateway's DNS.
  {
    CHECK(resolves(d, "spoofer", "victim", gw_a, victim_ip));
    CHECK(!has(guest_read(d, "spoofer", gw_a, any_port), secret));
    // Another host address, the gateway of another network, and its DNS responder.
    CHECK(!has(guest_read(d, "spoofer", gw_w, any_port), secret));
    CHECK(!resolves(d, "spoofer", "inner", gw_w, inner_ip));
    // An internal network: its own DNS answers names, the host's services stay shut.
    CHECK(resolves(d, "inner", "inner", gw_w, inner_ip));
    CHECK(!has(guest_read(d, "inner", gw_w, any_port), secret));
  }

  // No way between networks, not even with routes the guest adds.
  {
    // An external network into an internal one (its default route leads to the host).
    CHECK(!has(guest_get(d, "spoofer", inner_ip), "inner-page"));
    // The internal network out, through routes the guest adds via its bridge's address.
    REQUIRE(sh(d, "inner", "ip route add 10.92.0.0/24 via " + gw_w).code == 0);
    REQUIRE(sh(d, "inner", "ip route add default via " + gw_w).code == 0);
    CHECK(!has(guest_get(d, "inner", victim_ip), "victim-page"));
    CHECK(!has(guest_read(d, "inner", gw_a, any_port), secret));
    CHECK(!resolves(d, "inner", "victim", gw_a, victim_ip));
    CHECK(sh(d, "inner", "ping -c 1 -W 2 " + gw_a).code != 0);
  }

  // A guest that takes another container's or the gateway's IP and MAC diverts nothing.
  {
    // The victim knows the gateway's MAC (it asked the gateway's DNS), the host the victim's.
    REQUIRE(resolves(d, "victim", "spoofer", gw_a, spoofer_ip));
    auto victim_arp = [&] { return sh(d, "victim", "cat /proc/net/arp").out; };
    // The MAC the victim's ARP cache holds for the gateway (/proc/net/arp: IP, type, flags, MAC).
    auto gw_mac = [&] {
      auto arp = victim_arp();
      auto at = arp.find(gw_a + " ");
      if (at == std::string::npos) return std::string("none in:\n") + arp;
      std::istringstream line(arp.substr(at, arp.find('\n', at) - at));
      std::string ip, type, flags, mac;
      line >> ip >> type >> flags >> mac;
      return mac;
    };
    auto gw_before = gw_mac();
    REQUIRE(gw_before.size() == 17);
    CHECK(gw_before != spoofer_mac);
    REQUIRE(host_get(d, victim_ip) == "victim-page\n");
    REQUIRE(has(host_neighbour(d, victim_ip), victim_mac));

    // The MACs the bridge learnt on the spoofer's tap (tb + 10 hex digits of its id + 0).
    auto spoofer_tap = "tb" + inspect(d, "spoofer").at("Id").get<std::string>().substr(0, 10) + "0";
    auto fdb_of_spoofer = [&] {
      return d.in_netns({"bridge", "fdb", "show", "dev", spoofer_tap}).out;
    };
    REQUIRE(has(fdb_of_spoofer(), spoofer_mac));
    // The spoofer's commands, with $I its interface.
    auto spoof = [&](const std::string& script) {
      auto r = sh(d, "spoofer", "I=$(ls /sys/class/net | grep -vx lo | head -n 1); " + script);
      INFO(script << "\n" << r.out << r.err);
      REQUIRE(r.code == 0);
    };
    // Echo requests from the spoofer's own address arrive (the counter works) ...
    auto echos = in_echos(d, "victim");
    CHECK(sh(d, "spoofer", "ping -c 2 -W 3 " + victim_ip).code == 0);
    auto after_own = in_echos(d, "victim");
    CHECK(after_own >= echos + 2);
    // ... from the gateway's address or a free one they do not (a static neighbour entry, so
    // that the echo itself is sent, not only an ARP request from the forged address).
    spoof("ip addr add " + gw_a +
          "/24 dev $I && ip addr add 10.92.0.200/24 dev $I && arp -i $I -s " + victim_ip + " " +
          victim_mac);
    sh(d, "spoofer", "ping -c 2 -W 2 -I " + gw_a + " " + victim_ip);
    sh(d, "spoofer", "ping -c 2 -W 2 -I 10.92.0.200 " + victim_ip);
    CHECK(in_echos(d, "victim") == after_own);

    // Gratuitous ARP claiming the victim's and the gateway's addresses poisons no cache (arping
    // sends only from an address of its own: the spoofer takes the victim's).
    spoof("ip addr add " + victim_ip + "/24 dev $I");
    spoof("arping -U -c 3 -I $I " + victim_ip + " && arping -U -c 3 -I $I " + gw_a);
    CHECK(has(host_neighbour(d, victim_ip), victim_mac));
    CHECK(gw_mac() == gw_before);
    CHECK(host_get(d, victim_ip) == "victim-page\n");

    // The spoofer takes the victim's MAC too: the bridge does not learn it on the spoofer's
    // port, so the victim's traffic still reaches the victim, and the spoofer is cut off.
    // (Without the gateway's address, so that its queries go to the real one.)
    spoof("ip addr del " + gw_a + "/24 dev $I");
    CHECK(resolves(d, "spoofer", "victim", gw_a, victim_ip));
    spoof("ip link set $I down && ip link set $I address " + victim_mac + " && ip link set $I up");
    spoof("arping -U -c 3 -I $I " + victim_ip);
    CHECK(!resolves(d, "spoofer", "victim", gw_a, victim_ip));
    CHECK(has(host_neighbour(d, victim_ip), victim_mac));
    CHECK(gw_mac() == gw_before);
    CHECK(host_get(d, victim_ip) == "victim-page\n");
    CHECK(resolves(d, "victim", "spoofer", gw_a, spoofer_ip));
    CHECK(!has(fdb_of_spoofer(), victim_mac));

    // The control: without the pins the same gratuitous ARP moves the victim's MAC to the
    // spoofer's port (so it was the pin that stopped it, not the bridge).
    REQUIRE(d.in_netns({"nft", "delete", "table", "netdev", "berth"}).code == 0);
    spoof("arping -U -c 3 -I $I " + victim_ip);
    CHECK(has(fdb_of_spoofer(), victim_mac));
  }
}

// QEMU's user-mode stack (slirp) maps 10.0.2.2 to the host's 127.0.0.1 and connects from
// berthd's namespace; QEMU 7.2 cannot turn that off. berthd's jail table drops every new
// connection of a jailed QEMU's socket to a host address or out of a berth bridge (see
// docs/networking.md, "QEMU's user-mode network"), while its `-p` forwards (connections into
// QEMU) keep working. One VM.
TEST_CASE(
    "a guest on QEMU's user-mode network reaches neither the host's loopback nor its "
    "bridges but its published port still answers") {
  auto& d = berthd::get();
  host_listeners listeners(d);
  REQUIRE(listeners.ready(d));
  auto gw = gateway_of(d, "default");
  REQUIRE(has(host_read(d, gw, any_port), secret));
  d.ok({"run", "-d", "--name", "slirp", "--network", "user", "-p", "127.0.0.1:18113:80", "busybox",
        "sh", "-c", web("slirp-page")});
  REQUIRE(
      eventually([&] { return has(sh(d, "slirp", "ip -4 addr").out, "10.0.2.15"); }, seconds(30)));
  // The published port: the host connects into QEMU, and QEMU's replies pass.
  CHECK(eventually([&] { return host_get(d, "127.0.0.1:18113") == "slirp-page\n"; }, seconds(30)));
  // 10.0.2.2 is the host's 127.0.0.1 in QEMU's user-mode stack.
  CHECK(!has(guest_read(d, "slirp", "10.0.2.2", loopback_port), secret));
  CHECK(!has(guest_read(d, "slirp", "10.0.2.2", any_port), secret));
  // The default network's gateway is an address of the host (and the way to its containers).
  CHECK(!has(guest_read(d, "slirp", gw, any_port), secret));
  // The control: without the jail table the same reads succeed (so it was the table).
  REQUIRE(d.in_netns({"nft", "delete", "table", "inet", "berth_jail"}).code == 0);
  CHECK(has(guest_read(d, "slirp", "10.0.2.2", loopback_port), secret));
  d.ok({"rm", "-f", "slirp"});
}
