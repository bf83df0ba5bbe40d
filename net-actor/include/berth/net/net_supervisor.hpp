// net_supervisor_actor: the net supervisor of berthd: every network on this host, one network actor
// each.
//
// A network is a Linux bridge with a subnet, a table of addresses leased to containers (kept in
// the store, so no address is handed out twice across restarts and crashes), NAT for traffic
// out (one nftables table owned by berthd), a DNS responder on the gateway that answers the names
// and aliases of the network's containers, and published ports from the host to containers.
// A `default` network exists from the first start.
//
// A container's lifecycle on a network: lease (an address, at create) -> plug (taps on the
// bridge, names resolvable, ports open: when its VM starts) -> unplug (when its VM ends) ->
// release (the lease: when it is removed).
//
// Restarts: a crashed network actor is restarted and its containers plugged again; a crash of
// the net supervisor leaves bridges, taps and the nft table in place (running VMs keep their
// network) and its successor adopts them, but the owners of running containers must plug them
// again. A clean stop (user_shutdown) deletes every bridge, tap and the nft table, unless it was
// told `keep` first (live restore: containers keep running); records and leases stay in the store.
// docs/networking.md has the whole model.
#pragma once

#include "berth/actors/nets.hpp"
#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::net {

/// How berthd's networks are set up.
struct net_options {
  std::string default_subnet = "10.89.0.0/16";  ///< The `default` network's subnet.
  std::string pool = "10.90.0.0/16";            ///< /24s for networks created without --subnet.
  std::string nft_table = "berth";              ///< The nftables table berthd owns (inet family).
  std::vector<std::string> upstream_dns;        ///< Resolvers for other names; empty: the host's
                                                ///< /etc/resolv.conf.
  uint16_t dns_port = 53;                       ///< Where each network's DNS responder listens
                                                ///< on its gateway.
};

/// Spawns the net supervisor linked to `parent`. It reads the networks from the store (found in
/// the registry under `store_name`) and serves nothing before they, the default network and
/// the nft table are in place.
net_supervisor_actor spawn_net_supervisor(caf::local_actor* parent, net_options options);

/// The nftables table (inet family) of the jail's output chain. Separate from the networks'
/// table because it must exist whenever QEMU runs jailed, with or without bridge networks
/// (berthd --bridge=none has no net supervisor).
inline constexpr const char* jail_nft_table = "berth_jail";

/// Puts the jail's output chain in place (replacing the table `table`): sockets of jailed QEMUs
/// (uid `uid_base` and above) may open nothing to a host address or out of a berth bridge, so
/// that a `--network user` guest reaches neither the host's loopback through 10.0.2.2 nor other
/// containers; replies (its `-p` forwards) pass. Blocking (runs nft): call it before the actor
/// system starts, or from a job thread.
caf::error install_jail_firewall(const std::string& table, uint32_t uid_base);

/// Deletes the table `table` if it exists. Blocking, as install_jail_firewall.
caf::error remove_jail_firewall(const std::string& table);

}  // namespace berth::net
