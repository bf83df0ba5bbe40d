// Tests of configure_network's pieces: the rtnetlink requests byte by byte, acknowledgement
// parsing (hostile input included), MACs and the sysfs lookup; and the whole configuration run
// against veth interfaces inside a fresh network namespace of a forked child (needs root and
// iproute2 on the host; nothing outside that namespace changes).
#include "network.hpp"

#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

using namespace berth;
using namespace berth::agent;
namespace fs = std::filesystem;

namespace {

in_addr ip(const char* text) {
  in_addr a{};
  REQUIRE(::inet_pton(AF_INET, text, &a) == 1);
  return a;
}

// A request split into its header, its fixed family header and its attributes.
template <class Body>
struct parsed {
  nlmsghdr header{};
  Body body{};
  std::map<uint16_t, std::string> attrs;
};

template <class Body>
parsed<Body> parse_request(const std::vector<char>& msg) {
  parsed<Body> out;
  REQUIRE(msg.size() >= sizeof(nlmsghdr) + sizeof(Body));
  std::memcpy(&out.header, msg.data(), sizeof out.header);
  REQUIRE(out.header.nlmsg_len == msg.size());
  std::memcpy(&out.body, msg.data() + sizeof(nlmsghdr), sizeof(Body));
  std::size_t at = NLMSG_ALIGN(sizeof(nlmsghdr)) + NLMSG_ALIGN(sizeof(Body));
  while (at < msg.size()) {
    rtattr a{};
    REQUIRE(msg.size() - at >= sizeof a);
    std::memcpy(&a, msg.data() + at, sizeof a);
    REQUIRE(a.rta_len >= sizeof a);
    REQUIRE(a.rta_len <= msg.size() - at);
    out.attrs[a.rta_type] = std::string(msg.data() + at + sizeof a, a.rta_len - sizeof a);
    at += RTA_ALIGN(a.rta_len);
  }
  return out;
}

std::string bytes_of(in_addr a) {
  return std::string(reinterpret_cast<const char*>(&a), 4);
}

std::string bytes_of(uint32_t v) {
  return std::string(reinterpret_cast<const char*>(&v), 4);
}

// An NLMSG_ERROR answer for `seq` with `error` (0 = ack), optionally carrying an extended ack
// message, as the kernel sends it with NETLINK_CAP_ACK.
std::vector<char> error_answer(uint32_t seq, int error, std::string ext = {}) {
  std::vector<char> out(sizeof(nlmsghdr) + sizeof(nlmsgerr));
  nlmsghdr h{};
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = seq;
  h.nlmsg_flags = NLM_F_CAPPED;
  nlmsgerr e{};
  e.error = error;
  e.msg.nlmsg_len = 32;
  e.msg.nlmsg_seq = seq;
  if (!ext.empty()) {
    h.nlmsg_flags |= NLM_F_ACK_TLVS;
    nlattr a{};
    a.nla_type = NLMSGERR_ATTR_MSG;
    a.nla_len = static_cast<uint16_t>(sizeof a + ext.size() + 1);
    auto at = out.size();
    out.resize(at + NLA_ALIGN(a.nla_len));
    std::memcpy(out.data() + at, &a, sizeof a);
    std::memcpy(out.data() + at + sizeof a, ext.c_str(), ext.size() + 1);
  }
  h.nlmsg_len = static_cast<uint32_t>(out.size());
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, &e, sizeof e);
  return out;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/berth-net-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

errc error_of(const network_config& config, const network_setup& setup,
              std::string* text = nullptr) {
  try {
    configure_network(config, setup);
  } catch (const rpc::call_error& e) {
    if (text) *text = e.what();
    return e.code();
  }
  return errc::none;
}

interface_config make_iface(std::string mac, std::string address, uint8_t prefix,
                            std::string gateway, uint32_t mtu = 1500) {
  interface_config c;
  c.mac = std::move(mac);
  c.address = std::move(address);
  c.prefix_len = prefix;
  c.gateway = std::move(gateway);
  c.mtu = mtu;
  return c;
}

// Output of a shell command.
std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = ::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

}  // namespace

TEST_CASE("a link request sets IFF_UP and the MTU of one interface") {
  auto p = parse_request<ifinfomsg>(netlink::link_up_request(7, 3, 1400));
  CHECK(p.header.nlmsg_type == RTM_NEWLINK);
  CHECK(p.header.nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(p.header.nlmsg_seq == 7);
  CHECK(p.body.ifi_index == 3);
  CHECK(p.body.ifi_flags == IFF_UP);
  CHECK(p.body.ifi_change == IFF_UP);
  REQUIRE(p.attrs.count(IFLA_MTU));
  CHECK(p.attrs[IFLA_MTU] == bytes_of(uint32_t{1400}));

  auto no_mtu = parse_request<ifinfomsg>(netlink::link_up_request(8, 1, 0));
  CHECK(no_mtu.attrs.empty());
}

TEST_CASE("an address request carries local, address and broadcast") {
  auto p = parse_request<ifaddrmsg>(netlink::address_request(2, 4, ip("10.89.0.5"), 16));
  CHECK(p.header.nlmsg_type == RTM_NEWADDR);
  CHECK(p.header.nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE));
  CHECK(p.body.ifa_family == AF_INET);
  CHECK(p.body.ifa_prefixlen == 16);
  CHECK(p.body.ifa_index == 4);
  CHECK(p.attrs[IFA_LOCAL] == bytes_of(ip("10.89.0.5")));
  CHECK(p.attrs[IFA_ADDRESS] == bytes_of(ip("10.89.0.5")));
  CHECK(p.attrs[IFA_BROADCAST] == bytes_of(ip("10.89.255.255")));

  auto host = parse_request<ifaddrmsg>(netlink::address_request(3, 4, ip("10.0.0.1"), 32));
  CHECK_FALSE(host.attrs.count(IFA_BROADCAST));
}

TEST_CASE("a default route request names the gateway and the interface in the main table") {
  auto p = parse_request<rtmsg>(netlink::default_route_request(9, ip("10.89.0.1"), 5));
  CHECK(p.header.nlmsg_type == RTM_NEWROUTE);
  CHECK(p.body.rtm_family == AF_INET);
  CHECK(p.body.rtm_dst_len == 0);
  CHECK(p.body.rtm_table == RT_TABLE_MAIN);
  CHECK(p.body.rtm_type == RTN_UNICAST);
  CHECK(p.attrs[RTA_GATEWAY] == bytes_of(ip("10.89.0.1")));
  CHECK(p.attrs[RTA_OIF] == bytes_of(uint32_t{5}));
}

TEST_CASE("acknowledgements are found by sequence number, errors with their errno and text") {
  auto ok = error_answer(4, 0);
  auto a = netlink::parse_ack(ok.data(), ok.size(), 4);
  CHECK(a.found);
  CHECK(a.error == 0);

  auto other = netlink::parse_ack(ok.data(), ok.size(), 5);
  CHECK_FALSE(other.found);

  auto failed = error_answer(6, -EEXIST, "Nexthop has invalid gateway");
  auto e = netlink::parse_ack(failed.data(), failed.size(), 6);
  CHECK(e.found);
  CHECK(e.error == EEXIST);
  CHECK(e.message == "Nexthop has invalid gateway");

  // Two messages in one read: the first for another request.
  auto both = error_answer(1, -ENODEV);
  auto second = error_answer(2, 0);
  both.insert(both.end(), second.begin(), second.end());
  auto b = netlink::parse_ack(both.data(), both.size(), 2);
  CHECK(b.found);
  CHECK(b.error == 0);
}

TEST_CASE("malformed netlink answers are reported, never read past their end") {
  auto ok = error_answer(4, 0);
  // A length that runs past the data.
  auto cut = netlink::parse_ack(ok.data(), ok.size() - 1, 4);
  CHECK(cut.found);
  CHECK(cut.error == EBADMSG);
  // A zero length would loop forever if it were trusted.
  std::vector<char> zero(sizeof(nlmsghdr), 0);
  CHECK(netlink::parse_ack(zero.data(), zero.size(), 0).error == EBADMSG);
  // An error message too short for its nlmsgerr.
  nlmsghdr h{};
  h.nlmsg_len = sizeof h + 2;
  h.nlmsg_type = NLMSG_ERROR;
  h.nlmsg_seq = 3;
  std::vector<char> short_err(sizeof h + 4, 0);
  std::memcpy(short_err.data(), &h, sizeof h);
  CHECK(netlink::parse_ack(short_err.data(), short_err.size(), 3).error == EBADMSG);
  CHECK_FALSE(netlink::parse_ack(nullptr, 0, 1).found);
  // An extended ack whose attribute lengths lie.
  auto lying = error_answer(8, -EINVAL, "x");
  nlattr a{};
  a.nla_type = NLMSGERR_ATTR_MSG;
  a.nla_len = 4000;
  std::memcpy(lying.data() + sizeof(nlmsghdr) + sizeof(nlmsgerr), &a, sizeof a);
  auto l = netlink::parse_ack(lying.data(), lying.size(), 8);
  CHECK(l.error == EINVAL);
  CHECK(l.message.empty());

  // Random bytes, and valid answers with random bytes flipped.
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::vector<char> junk =
        i % 2 ? error_answer(8, -EINVAL, "some text") : std::vector<char>(rng() % 96);
    for (auto& c : junk)
      if (i % 2 == 0 || rng() % 8 == 0) c = static_cast<char>(rng());
    auto r = netlink::parse_ack(junk.data(), junk.size(), 8);
    if (r.found && r.error != EBADMSG) CHECK(r.message.size() < junk.size());
  }
}

TEST_CASE("MAC addresses parse in either case and nothing else does") {
  auto m = parse_mac("02:42:0A:59:00:ff");
  REQUIRE(m);
  CHECK(*m == std::array<uint8_t, 6>{0x02, 0x42, 0x0a, 0x59, 0x00, 0xff});
  CHECK_FALSE(parse_mac(""));
  CHECK_FALSE(parse_mac("02:42:0a:59:00"));
  CHECK_FALSE(parse_mac("02:42:0a:59:00:fg"));
  CHECK_FALSE(parse_mac("02-42-0a-59-00-ff"));
  CHECK_FALSE(parse_mac("02:42:0a:59:00:ff:"));
}

TEST_CASE("an interface is found by the MAC in its sysfs address file") {
  temp_dir sys;
  for (auto [name, mac] :
       {std::pair{"lo", "00:00:00:00:00:00\n"}, std::pair{"eth0", "02:42:0a:59:00:05\n"},
        std::pair{"eth1", "02:42:0a:5a:00:07\n"}}) {
    fs::create_directories(sys.path / name);
    std::ofstream(sys.path / name / "address") << mac;
  }
  fs::create_directories(sys.path / "broken");  // no address file
  CHECK(find_interface_by_mac(sys.path, *parse_mac("02:42:0a:5a:00:07")) == "eth1");
  CHECK(find_interface_by_mac(sys.path, *parse_mac("02:42:0A:59:00:05")) == "eth0");
  CHECK(find_interface_by_mac(sys.path, *parse_mac("02:00:00:00:00:01")).empty());
  CHECK(find_interface_by_mac((sys.path / "missing").string(), *parse_mac("02:42:0a:59:00:05"))
            .empty());
}

TEST_CASE("configure_network checks every value before it changes anything") {
  temp_dir sys;
  network_setup setup;
  setup.sys_class_net = sys.path.string();
  setup.wait = std::chrono::milliseconds(0);
  setup.load_modules = false;
  network_config c;
  std::string text;

  c.interfaces = {make_iface("02:42:0a:59:00", "10.89.0.5", 16, "10.89.0.1")};
  CHECK(error_of(c, setup, &text) == errc::invalid_argument);
  CHECK_THAT(text, Catch::Contains("MAC"));
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.500", 16, "")};
  CHECK(error_of(c, setup) == errc::invalid_argument);
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 33, "")};
  CHECK(error_of(c, setup) == errc::invalid_argument);
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, "gateway")};
  CHECK(error_of(c, setup) == errc::invalid_argument);
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, "", 20)};
  CHECK(error_of(c, setup) == errc::invalid_argument);
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, ""),
                  make_iface("02:42:0a:59:00:05", "10.90.0.5", 24, "")};
  CHECK(error_of(c, setup) == errc::invalid_argument);
  c.interfaces.assign(17, make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, ""));
  CHECK(error_of(c, setup) == errc::invalid_argument);

  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, "10.89.0.1")};
  CHECK(error_of(c, setup, &text) == errc::not_found);
  CHECK_THAT(text, Catch::Contains("02:42:0a:59:00:05"));
}

TEST_CASE(
    "the net module set is loaded before interfaces are looked for, and its absence is "
    "unsupported") {
  temp_dir modules;
  network_setup setup;
  setup.modules_dir = modules.path.string();
  setup.wait = std::chrono::milliseconds(0);
  network_config c;
  c.interfaces = {make_iface("02:42:0a:59:00:05", "10.89.0.5", 16, "10.89.0.1")};
  std::string text;
  CHECK(error_of(c, setup, &text) == errc::unsupported);
  CHECK_THAT(text, Catch::Contains("net"));
}

// Runs in a forked child: a new network namespace (and a mount namespace with that namespace's
// sysfs on /sys), two veth interfaces with known MACs, then configure_network and `ip` to see
// what it did. Returns what went wrong, or "" when all is as expected.
std::string configure_in_namespace() {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0)
    return std::string("unshare: ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return "make / private failed";
  ::umount2("/sys", MNT_DETACH);
  if (::mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0)
    return std::string("mount sysfs: ") + std::strerror(errno);
  // No interfaces (--network none): lo comes up, without needing the net module set.
  if (run("ip -o link show lo").find(",UP") != std::string::npos)
    return "lo is up in a fresh namespace";
  {
    network_setup none;
    none.modules_dir = "/nonexistent";
    try {
      configure_network(network_config{}, none);
    } catch (const std::exception& e) {
      return std::string("configure_network without interfaces: ") + e.what();
    }
    if (run("ip -o link show lo").find(",UP") == std::string::npos) return "lo did not come up";
  }
  // veth pairs (this kernel may lack the dummy driver); the peers are up, so the links have a
  // carrier like a virtio-net device whose tap is up.
  run("ip link add berth0 type veth peer name peer0 && ip link set berth0 address "
      "02:42:0a:59:00:05 && "
      "ip link add berth1 type veth peer name peer1 && ip link set berth1 address "
      "02:42:0a:5a:00:07 && "
      "ip link set peer0 up && ip link set peer1 up");
  network_setup setup;
  setup.load_modules = false;
  setup.wait = std::chrono::milliseconds(500);
  network_config c;
  c.interfaces = {make_iface("02:42:0A:59:00:05", "10.89.0.5", 16, "10.89.0.1", 1400),
                  make_iface("02:42:0a:5a:00:07", "10.90.3.7", 24, "10.90.3.1", 1500)};
  std::string out;
  try {
    configure_network(c, setup);
    configure_network(c, setup);  // a second call changes nothing and succeeds
  } catch (const std::exception& e) {
    return std::string("configure_network: ") + e.what();
  }
  auto lo = run("ip -o link show lo");
  if (lo.find("UP") == std::string::npos) out += "lo is not up: " + lo;
  auto l0 = run("ip -o link show berth0");
  if (l0.find("mtu 1400") == std::string::npos || l0.find(",UP") == std::string::npos)
    out += "berth0: " + l0;
  auto a0 = run("ip -o -4 addr show dev berth0");
  if (a0.find("inet 10.89.0.5/16 brd 10.89.255.255") == std::string::npos)
    out += "berth0 address: " + a0;
  auto a1 = run("ip -o -4 addr show dev berth1");
  if (a1.find("inet 10.90.3.7/24") == std::string::npos) out += "berth1 address: " + a1;
  auto routes = run("ip route show default");
  if (routes.find("default via 10.89.0.1 dev berth0") == std::string::npos ||
      routes.find("10.90.3.1") != std::string::npos)
    out += "default route: " + routes;
  // A gateway outside every subnet is an io error with the kernel's reason.
  network_config bad;
  bad.interfaces = {make_iface("02:42:0a:5a:00:07", "10.90.3.7", 24, "192.168.77.1")};
  run("ip route del default");
  try {
    configure_network(bad, setup);
    out += "an unreachable gateway was accepted\n";
  } catch (const rpc::call_error& e) {
    if (e.code() != errc::io || std::string(e.what()).find("unreachable") == std::string::npos)
      out += std::string("unreachable gateway: ") + e.what() + "\n";
  }
  return out;
}

TEST_CASE("configure_network sets address, mtu, up and the default route in a network namespace") {
  REQUIRE(::geteuid() == 0);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto problems = configure_in_namespace();
    [[maybe_unused]] auto n = ::write(fds[1], problems.data(), problems.size());
    ::_exit(problems.empty() ? 0 : 1);
  }
  ::close(fds[1]);
  std::string problems;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) problems.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(problems);
  CHECK(problems.empty());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
