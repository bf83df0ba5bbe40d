// Tests that attack the pins of the taps and the input chain with real frames: in a network
// namespace of the test's own (forked child), a bridge with its gateway, berth's nft tables and
// a pinned tap that the test opens itself, writing the Ethernet frames a hostile guest would
// (forged source MAC, forged source IP, ARP claiming another address, a host port that is not
// DNS). What the host's stack does with them is observed through sockets and the ARP replies it
// sends back into the tap. No packet leaves the namespace.
#include "host_links.hpp"

#include "support.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/process.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

using namespace berth;
using namespace berth::net;

namespace {

using mac_t = std::array<uint8_t, 6>;
using bytes = std::vector<uint8_t>;

const std::string bridge = "brth-iso00001";
const std::string tap = "tbiso00000000";
const mac_t bridge_mac{0x02, 0xaa, 0, 0, 0, 0x01};
const mac_t guest_mac{0x02, 0xaa, 0, 0, 0, 0x02};
const mac_t other_mac{0x02, 0xaa, 0, 0, 0, 0x03};  // another container's
const mac_t broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const char* gateway = "10.96.0.1";
const char* guest_ip = "10.96.0.2";
const char* other_ip = "10.96.0.3";  // another container's

uint32_t addr(const char* text) {
  in_addr a{};
  ::inet_pton(AF_INET, text, &a);
  return a.s_addr;  // network order
}

void put(bytes& b, const void* p, std::size_t n) {
  auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}

void put16(bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

bytes ether(const mac_t& dst, const mac_t& src, uint16_t type) {
  bytes b;
  put(b, dst.data(), 6);
  put(b, src.data(), 6);
  put16(b, type);
  return b;
}

// An ARP request from (sha, spa) for tpa, sent from the Ethernet address `src`.
bytes arp_request(const mac_t& src, const mac_t& sha, const char* spa, const char* tpa) {
  auto b = ether(broadcast, src, 0x0806);
  put16(b, 1);
  put16(b, 0x0800);
  b.push_back(6);
  b.push_back(4);
  put16(b, 1);
  put(b, sha.data(), 6);
  auto s = addr(spa);
  put(b, &s, 4);
  mac_t zero{};
  put(b, zero.data(), 6);
  auto t = addr(tpa);
  put(b, &t, 4);
  return b;
}

// A UDP datagram "probe" from (src mac, src ip) to the gateway's MAC and dst:port.
bytes udp(const mac_t& src, const char* src_ip, const char* dst_ip, uint16_t port) {
  auto b = ether(bridge_mac, src, 0x0800);
  const std::string payload = "probe";
  bytes ip;
  ip.push_back(0x45);
  ip.push_back(0);
  put16(ip, static_cast<uint16_t>(20 + 8 + payload.size()));
  put16(ip, 1);
  put16(ip, 0);
  ip.push_back(64);
  ip.push_back(17);
  put16(ip, 0);
  auto s = addr(src_ip);
  auto d = addr(dst_ip);
  put(ip, &s, 4);
  put(ip, &d, 4);
  uint32_t sum = 0;
  for (std::size_t i = 0; i < ip.size(); i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8);
  ip[11] = static_cast<uint8_t>(~sum);
  put16(ip, 40000);
  put16(ip, port);
  put16(ip, static_cast<uint16_t>(8 + payload.size()));
  put16(ip, 0);  // no checksum (allowed for IPv4)
  put(ip, payload.data(), payload.size());
  b.insert(b.end(), ip.begin(), ip.end());
  return b;
}

// Opens the existing tap as its "guest" side (as QEMU does).
os::unique_fd open_tap() {
  os::unique_fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return fd;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, tap.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return os::unique_fd{};
  return fd;
}

// Whether an ARP reply for `spa` comes back into the tap within 500 ms (other frames skipped).
bool arp_reply_from(int tap_fd, const char* spa) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  auto want = addr(spa);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{tap_fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    uint8_t f[2048];
    auto n = ::read(tap_fd, f, sizeof f);
    if (n < 42 || f[12] != 0x08 || f[13] != 0x06 || f[21] != 2) continue;
    uint32_t got;
    std::memcpy(&got, f + 28, 4);
    if (got == want) return true;
  }
  return false;
}

// Whether the UDP socket gets a datagram within 500 ms (and drains it).
bool received(int sock) {
  pollfd p{sock, POLLIN, 0};
  if (::poll(&p, 1, 500) <= 0) return false;
  char buf[64];
  while (::recv(sock, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  return true;
}

os::unique_fd udp_listener(const char* ip, uint16_t port) {
  os::unique_fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = addr(ip);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return os::unique_fd{};
  return s;
}

bool have_nft() {
  return ::access("/usr/sbin/nft", X_OK) == 0 || ::access("/sbin/nft", X_OK) == 0;
}

}  // namespace

TEST_CASE("a pinned tap passes only its own MAC and address, the host only its gateway's DNS") {
  if (!have_nft()) {
    BERTH_SKIP("nft is not installed");
  }
  if (::access("/dev/net/tun", R_OK | W_OK) != 0) {
    BERTH_SKIP("no /dev/net/tun");
  }
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    std::string out;
    auto fail = [&](const std::string& what) { out += what + "\n"; };
    auto gw = parse_ipv4(gateway);
    if (auto err = host::ensure_bridge(bridge, "02:aa:00:00:00:01", *gw, 24))
      return "bridge: " + describe(err);
    host::firewall_network net{bridge, "10.96.0.0/24", false, gateway};
    if (auto err = host::apply_nft(host::nft_script("berth", {net})))
      return "table: " + describe(err);
    host::tap_pin pin{"berth", "02:aa:00:00:00:02", guest_ip};
    if (auto err = host::ensure_tap(tap, bridge, pin)) return "tap: " + describe(err);
    auto fd = open_tap();
    if (!fd) return std::string("cannot open the tap: ") + std::strerror(errno);
    auto dns = udp_listener(gateway, 53);
    auto other_port = udp_listener("0.0.0.0", 5353);
    if (!dns || !other_port) return "cannot bind the host's listeners";
    auto send = [&](const bytes& frame) {
      if (::write(fd.get(), frame.data(), frame.size()) != static_cast<ssize_t>(frame.size()))
        fail(std::string("write to the tap: ") + std::strerror(errno));
    };

    // The guest as leased: the gateway answers its ARP and gets its DNS query. The port comes
    // up when the tap is opened: the first frames may be lost, so try a few times.
    bool up = false;
    for (int i = 0; i < 10 && !up; ++i) {
      send(arp_request(guest_mac, guest_mac, guest_ip, gateway));
      up = arp_reply_from(fd.get(), gateway);
    }
    if (!up) fail("the gateway does not answer the leased guest's ARP");
    send(udp(guest_mac, guest_ip, gateway, 53));
    if (!received(dns.get())) fail("the leased guest's DNS query did not arrive");

    // Forged: another source MAC, another source IP, ARP claiming another container's address.
    send(arp_request(other_mac, other_mac, guest_ip, gateway));
    if (arp_reply_from(fd.get(), gateway)) fail("ARP from another MAC was answered");
    send(arp_request(guest_mac, guest_mac, other_ip, gateway));
    if (arp_reply_from(fd.get(), gateway)) fail("ARP claiming another address was answered");
    send(arp_request(guest_mac, other_mac, guest_ip, gateway));
    if (arp_reply_from(fd.get(), gateway)) fail("ARP with another sender MAC was answered");
    auto neigh = os::run({"ip", "neigh", "show", other_ip}, std::chrono::seconds(10)).output;
    if (neigh.find("lladdr") != std::string::npos)
      fail("the host learnt the forged address: " + neigh);
    send(udp(other_mac, guest_ip, gateway, 53));
    if (received(dns.get())) fail("a datagram from another MAC arrived");
    send(udp(guest_mac, other_ip, gateway, 53));
    if (received(dns.get())) fail("a datagram from another address arrived");

    // The input chain: a host port that is not DNS, on the gateway or another host address.
    send(udp(guest_mac, guest_ip, gateway, 5353));
    if (received(other_port.get())) fail("a host port other than DNS was reached");

    // The controls: without the pin the forged datagram arrives, without the table the port.
    if (auto err = host::apply_nft(host::unpin_script("berth", tap)))
      fail("unpin: " + describe(err));
    send(udp(guest_mac, other_ip, gateway, 53));
    if (!received(dns.get())) fail("control: unpinned, the forged datagram did not arrive");
    if (auto err = host::apply_nft(host::nft_script("berth", {})))
      fail("delete the table: " + describe(err));
    send(udp(guest_mac, guest_ip, gateway, 5353));
    if (!received(other_port.get())) fail("control: without the table, the port was not reached");

    fd = os::unique_fd{};
    if (auto err = host::delete_tap("berth", tap)) fail("delete the tap: " + describe(err));
    if (auto err = host::delete_nft_table("berth")) fail("delete the tables: " + describe(err));
    return out;
  });
  INFO(problems);
  CHECK(problems.empty());
}
