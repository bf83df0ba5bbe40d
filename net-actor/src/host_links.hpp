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

/// Makes the tap `tap` if it does not exist, enslaves it to `bridge` and brings it up.
caf::error ensure_tap(const std::string& tap, const std::string& bridge);

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
};

/// The nft script that replaces the table `table` (family inet) with berth's rules for
/// `networks`, or deletes it when there is none. Atomic when given to `nft -f`: creating the
/// table first makes the delete succeed whether or not it existed.
std::string nft_script(const std::string& table, const std::vector<firewall_network>& networks);

/// Runs `nft -f -` with `script`.
caf::error apply_nft(const std::string& script);

/// Deletes the table `table` (family inet) if it exists.
caf::error delete_nft_table(const std::string& table);

/// Writes 1 to /proc/sys/net/ipv4/ip_forward unless it already is 1.
caf::error enable_ip_forward();

}  // namespace berth::net::host
