// Tests for IPv4 text, subnets, address management and the names berth gives host links.
#include "addr.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <set>
#include <string>
#include <vector>

using namespace berth::net;

namespace {

ipv4 ip(const char* text) {
  auto a = parse_ipv4(text);
  REQUIRE(a);
  return *a;
}

subnet net(const char* text) {
  auto s = parse_subnet(text);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("dotted quads parse and print back, and nothing else parses") {
  CHECK(ip("10.89.0.5").value == 0x0a590005u);
  CHECK(ip("0.0.0.0").value == 0u);
  CHECK(ip("255.255.255.255").value == 0xffffffffu);
  for (auto text : {"10.89.0.5", "0.0.0.0", "255.255.255.255", "192.168.1.10", "1.2.3.4"})
    CHECK(to_string(ip(text)) == text);
  for (auto bad :
       {"", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.04", "01.2.3.4", "1..2.3", "1.2.3.4 ",
        " 1.2.3.4", "1.2.3.-4", "a.b.c.d", "1.2.3.4/24", "1.2.3.", "1000.1.1.1", "::1"})
    CHECK_FALSE(parse_ipv4(bad));
}

TEST_CASE("subnets parse strictly, or to their network address when loose") {
  auto s = net("10.89.0.0/16");
  CHECK(s.network == ip("10.89.0.0"));
  CHECK(s.prefix == 16);
  CHECK(s.mask() == 0xffff0000u);
  CHECK(to_string(s) == "10.89.0.0/16");
  CHECK(to_string(s.broadcast()) == "10.89.255.255");
  CHECK(to_string(s.first_host()) == "10.89.0.1");
  CHECK(net("0.0.0.0/0").mask() == 0u);
  CHECK(net("10.1.2.3/32").mask() == 0xffffffffu);

  // Host bits set: refused when strict, cleared when loose.
  CHECK_FALSE(parse_subnet("10.89.0.1/16"));
  auto loose = parse_subnet("10.89.3.1/16", false);
  REQUIRE(loose);
  CHECK(to_string(*loose) == "10.89.0.0/16");

  for (auto bad : {"10.89.0.0", "10.89.0.0/", "10.89.0.0/33", "10.89.0.0/016", "10.89.0.0/1a",
                   "10.89.0.0/-1", "/16", "10.89.0/16", "10.89.0.0/100", "10.89.0.0/16/1"})
    CHECK_FALSE(parse_subnet(bad, false));
}

TEST_CASE("containment and usable addresses leave out the network and broadcast addresses") {
  auto s = net("10.90.3.0/24");
  CHECK(s.contains(ip("10.90.3.0")));
  CHECK(s.contains(ip("10.90.3.255")));
  CHECK_FALSE(s.contains(ip("10.90.4.0")));
  CHECK_FALSE(s.usable(ip("10.90.3.0")));
  CHECK_FALSE(s.usable(ip("10.90.3.255")));
  CHECK(s.usable(ip("10.90.3.1")));
  CHECK(s.usable(ip("10.90.3.254")));
  CHECK_FALSE(s.usable(ip("10.90.2.254")));
}

TEST_CASE("two subnets overlap when one contains the other's network, in either order") {
  CHECK(net("10.89.0.0/16").overlaps(net("10.89.3.0/24")));
  CHECK(net("10.89.3.0/24").overlaps(net("10.89.0.0/16")));
  CHECK(net("10.89.3.0/24").overlaps(net("10.89.3.0/24")));
  CHECK(net("0.0.0.0/0").overlaps(net("192.168.0.0/24")));
  CHECK_FALSE(net("10.89.0.0/16").overlaps(net("10.90.0.0/16")));
  CHECK_FALSE(net("10.90.3.0/24").overlaps(net("10.90.4.0/24")));
  CHECK_FALSE(net("10.90.3.0/25").overlaps(net("10.90.3.128/25")));
  CHECK(net("10.90.2.0/23").overlaps(net("10.90.3.128/25")));
}

TEST_CASE("the next free address skips the gateway and every taken one, and ends when full") {
  auto s = net("10.90.3.0/29");  // hosts .1 to .6
  auto gw = ip("10.90.3.1");
  std::set<uint32_t> taken;
  std::vector<std::string> handed;
  while (auto a = next_free(s, gw, taken)) {
    handed.push_back(to_string(*a));
    taken.insert(a->value);
  }
  CHECK(handed ==
        std::vector<std::string>{"10.90.3.2", "10.90.3.3", "10.90.3.4", "10.90.3.5", "10.90.3.6"});

  // A freed address in the middle is the next one handed out.
  taken.erase(ip("10.90.3.4").value);
  CHECK(to_string(*next_free(s, gw, taken)) == "10.90.3.4");

  // A gateway elsewhere than .1 leaves .1 free.
  CHECK(to_string(*next_free(net("10.91.0.0/24"), ip("10.91.0.254"), {})) == "10.91.0.1");

  // /31 and /32 have no room for a gateway and a host.
  CHECK_FALSE(next_free(net("10.92.0.0/31"), ip("10.92.0.0"), {}));
  CHECK_FALSE(next_free(net("10.92.0.1/32"), ip("10.92.0.1"), {}));
  CHECK(next_free(net("10.92.0.0/30"), ip("10.92.0.1"), {}) == ip("10.92.0.2"));
}

TEST_CASE("the next free /24 of a pool avoids every subnet in use") {
  auto pool = net("10.90.0.0/16");
  CHECK(to_string(*next_free_24(pool, {})) == "10.90.0.0/24");
  CHECK(to_string(*next_free_24(pool, {net("10.90.0.0/24"), net("10.90.1.0/24")})) ==
        "10.90.2.0/24");
  // A user's /23 inside the pool takes two /24s; a /16 elsewhere takes none.
  CHECK(to_string(*next_free_24(pool, {net("10.90.0.0/23"), net("10.89.0.0/16")})) ==
        "10.90.2.0/24");
  // A small subnet inside a /24 makes the whole /24 unusable.
  CHECK(to_string(*next_free_24(pool, {net("10.90.0.64/26")})) == "10.90.1.0/24");
  // A pool covered by a larger network is full.
  CHECK_FALSE(next_free_24(pool, {net("10.0.0.0/8")}));
  // A pool of one /24, and a pool smaller than a /24.
  CHECK(to_string(*next_free_24(net("10.93.7.0/24"), {})) == "10.93.7.0/24");
  CHECK_FALSE(next_free_24(net("10.93.7.0/24"), {net("10.93.7.0/24")}));
  CHECK_FALSE(next_free_24(net("10.93.7.0/25"), {}));
}

TEST_CASE("bridge and tap names fit the kernel's 15 characters") {
  std::string id(64, 'a');
  id.replace(0, 12, "0123456789ab");
  CHECK(bridge_name(id) == "brth-01234567");
  CHECK(tap_name(id, 0) == "tb01234567890");
  CHECK(tap_name(id, 7) == "tb01234567897");
  CHECK(tap_name(id, 999).size() == 15);
  CHECK(bridge_name(id).size() <= 15);
}

TEST_CASE("a container's MAC is stable, local unicast and differs per network and container") {
  std::string c1(64, '1'), c2(64, '2'), n1(64, 'a'), n2(64, 'b');
  auto m = mac_for(c1, n1);
  CHECK(m == mac_for(c1, n1));
  REQUIRE(m.size() == 17);
  CHECK(m.substr(0, 3) == "02:");
  for (std::size_t i = 2; i < 17; i += 3) CHECK(m[i] == ':');
  for (std::size_t i = 0; i < 17; ++i)
    if (i % 3 != 2) CHECK(std::isxdigit(static_cast<unsigned char>(m[i])));
  CHECK(mac_for(c1, n2) != m);
  CHECK(mac_for(c2, n1) != m);
  // The value is sha256 of the two ids: pinned, so a change of the scheme is noticed (a changed
  // MAC would make a restarted guest's configuration miss its interface).
  CHECK(mac_for("abc", "") == "02:ba:78:16:bf:8f");
  // A bridge has a MAC of its own, stable per network and unlike any container's there.
  CHECK(bridge_mac(n1) == bridge_mac(n1));
  CHECK(bridge_mac(n1) != bridge_mac(n2));
  CHECK(bridge_mac(n1).substr(0, 3) == "02:");
  CHECK(bridge_mac(n1) != mac_for(c1, n1));
}

TEST_CASE("network names follow Docker's rule") {
  for (std::string good : {"default", "a", "my-net", "net_2", "web.prod", "A1"})
    CHECK(valid_network_name(good));
  for (std::string bad : {"", "-net", ".net", "_net", "my net", "net/1", "net:1", "ünï"})
    CHECK_FALSE(valid_network_name(bad));
  CHECK(valid_network_name(std::string(64, 'x')));
  CHECK_FALSE(valid_network_name(std::string(65, 'x')));
}
