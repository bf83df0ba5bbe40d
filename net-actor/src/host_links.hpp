// host_links: the host side of berth's networks: bridges, taps, the nftables table and the
// forwarding sysctl, made with iproute2 and nft.
//
// Every function here blocks (it runs `ip` or `nft` to completion): call them from job threads
// (run_job), never from an actor's handler. Errors are caf::errors with berth's classes and the
// tool's own message.
#pragma once

#include "addr.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace berth::net::host {

/// Makes the bridge `name` if it does not exist (an existing one is adopted: a berthd that died
/// left it, and running VMs may still use it), gives it the fixed `mac` (see bridge_mac) and
/// `gateway`/`prefix`, and brings it up. Conflict when another kind of link has the name.
caf::error ensure_bridge(const std::string& name, const std::string& mac, ipv4 gateway,
                         uint8_t prefix);

/// What a tap's guest may send as: its leased MAC and IPv4 address (see pin_script).
struct tap_pin {
  std::string table;  ///< The nft table berthd owns (its netdev family holds the pins).
  std::string mac;    ///< "02:5c:..".
  std::string ip;     ///< "10.89.0.2".
};

/// Makes the tap `tap` if it does not exist, pins it to `pin` (before it joins the bridge, so no
/// frame of it is ever bridged unchecked), enslaves it to `bridge` and brings it up. A tap that
/// exists is pinned again (the same pin: idempotent).
caf::error ensure_tap(const std::string& tap, const std::string& bridge, const tap_pin& pin);

/// The nft script that pins `tap`: a chain named after it in the table `pin.table` (family
/// netdev), on the tap's ingress hook, policy drop, that lets through only IPv4 frames from
/// `pin.mac` and `pin.ip` and ARP frames whose Ethernet and ARP sender are `pin.mac` and
/// `pin.ip`. Everything else (another source MAC or IP, ARP claiming another address, IPv6, VLAN
/// tags, DHCP from 0.0.0.0) is dropped before the bridge sees it. Replaces the chain atomically.
std::string pin_script(const std::string& tap, const tap_pin& pin);

/// The nft script that removes the pin chain of `tap` from the netdev table `table`, whether or
/// not it (or the tap) exists.
std::string unpin_script(const std::string& table, const std::string& tap);

/// Deletes the tap `tap` (one that does not exist is fine), then its pin chain in `table`.
caf::error delete_tap(const std::string& table, const std::string& tap);

/// Deletes the link `name`; one that does not exist is fine.
caf::error delete_link(const std::string& name);

/// Names of the links of a kind ("bridge"), or of the ports of a bridge when `master` is given.
caf::expected<std::vector<std::string>> list_links(const std::string& kind,
                                                   const std::string& master = {});

/// One network as the firewall sees it.
struct firewall_network {
  std::string bridge;
  std::string subnet;  ///< "10.89.0.0/16".
  bool internal = false;
  std::string gateway;  ///< "10.89.0.1": the bridge's address, where its DNS responder listens.
};

/// The nft script that replaces the table `table` (family inet) with berth's rules for
/// `networks`, or deletes it when there is none. Atomic when given to `nft -f`: creating the
/// table first makes the delete succeed whether or not it existed.
///
/// Input: from a berth bridge the host accepts only replies (ct established/related: published
/// port proxies, DNS answers) and DNS (udp/tcp 53) to that bridge's own gateway address; the rest
/// (other host addresses, other networks' gateways, IPv6) is dropped. Forward: nothing from one
/// berth bridge to another; an internal network forwards nothing in or out; an external one
/// lets out what its containers start and lets in only the replies. Postrouting: external
/// networks are masqueraded.
std::string nft_script(const std::string& table, const std::vector<firewall_network>& networks);

/// The nft script that replaces the table `table` (family inet) with the jail's output chain:
/// a socket owned by a jailed QEMU (uid `uid_base` and above: each QEMU runs as uid_base + its
/// pid) may not start a connection or send a new packet to an address of the host itself (fib
/// daddr type local: loopback, the bridges' gateways, every host address) nor out of a berth
/// bridge. This closes what QEMU's user-mode network (slirp) would otherwise open: 10.0.2.2 is
/// the host's 127.0.0.1, and slirp connects from berthd's network namespace. Replies
/// (established/related: slirp's `-p` forwards are connections into QEMU) pass, and so does DNS
/// to the host's loopback (slirp's 10.0.2.3 asks the host's resolver, often 127.0.0.53).
std::string jail_script(const std::string& table, uint32_t uid_base);

/// Runs `nft -f -` with `script`.
caf::error apply_nft(const std::string& script);

/// Deletes the table `table` (family inet) and its pins (family netdev) if they exist.
caf::error delete_nft_table(const std::string& table);

/// Writes 1 to /proc/sys/net/ipv4/ip_forward unless it already is 1.
caf::error enable_ip_forward();

}  // namespace berth::net::host
