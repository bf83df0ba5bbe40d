// addr: IPv4 addresses and subnets, address management, and the names berth gives host links.
//
// Plain value functions (no CAF, no I/O), shared by the actors and their unit tests: parsing
// and printing of addresses and CIDR subnets, overlap checks, the next free address of a subnet,
// the next free /24 of a pool, and the stable names of bridges, taps and MACs.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace berth::net {

/// An IPv4 address in host byte order.
struct ipv4 {
  uint32_t value = 0;
  friend bool operator==(ipv4 a, ipv4 b) { return a.value == b.value; }
  friend auto operator<=>(ipv4 a, ipv4 b) { return a.value <=> b.value; }
};

/// Parses dotted-quad text ("10.89.0.5"); nothing if malformed.
std::optional<ipv4> parse_ipv4(std::string_view text);

/// "10.89.0.5".
std::string to_string(ipv4 a);

/// An IPv4 subnet: its network address and prefix length.
struct subnet {
  ipv4 network;
  uint8_t prefix = 0;

  /// The mask of the prefix (host byte order).
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  /// The broadcast address.
  ipv4 broadcast() const { return {network.value | ~mask()}; }
  /// The first address after the network address.
  ipv4 first_host() const { return {network.value + 1}; }
  /// Whether `a` is inside.
  bool contains(ipv4 a) const { return (a.value & mask()) == network.value; }
  /// Whether `a` is an address a host may have (not the network or broadcast address).
  bool usable(ipv4 a) const { return contains(a) && a != network && a != broadcast(); }
  /// Whether the two subnets share an address.
  bool overlaps(const subnet& other) const;
};

/// "10.89.0.0/16".
std::string to_string(const subnet& s);

/// Parses "10.89.0.0/16". With `strict`, host bits must be zero (nothing is returned otherwise).
std::optional<subnet> parse_subnet(std::string_view text, bool strict = true);

/// The lowest usable address of `net` that is neither `gateway` nor in `taken`, or nothing when
/// the subnet is full.
std::optional<ipv4> next_free(const subnet& net, ipv4 gateway, const std::set<uint32_t>& taken);

/// The first /24 of `pool` that overlaps none of `used`, or nothing.
std::optional<subnet> next_free_24(const subnet& pool, const std::vector<subnet>& used);

/// The bridge of a network: "brth-" and the first 8 hex digits of its id.
std::string bridge_name(std::string_view network_id);

/// The tap of a container's endpoint: "tb", the first 10 hex digits of its id, and the
/// endpoint's index (at most 15 characters, the kernel's limit, for index < 1000).
std::string tap_name(std::string_view container_id, uint32_t index);

/// A locally administered unicast MAC, stable for a container on a network: 02 and the first five
/// bytes of sha256(container id + network id), "02:xx:xx:xx:xx:xx".
std::string mac_for(std::string_view container_id, std::string_view network_id);

/// The MAC of a network's bridge: mac_for("bridge", network id). Set explicitly, because a
/// Linux bridge otherwise takes the lowest MAC of its ports and changes it as taps come and go,
/// which leaves the gateway's old MAC in every container's ARP cache.
std::string bridge_mac(std::string_view network_id);

/// Whether `name` is a valid network name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 characters.
bool valid_network_name(std::string_view name);

}  // namespace berth::net
