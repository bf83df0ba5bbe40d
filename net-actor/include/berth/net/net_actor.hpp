// net_actor: the net supervisor of berthd: every network on this host, one network actor each.
//
// A network is a Linux bridge with a subnet, a table of addresses leased to containers (kept in
// the store, so no address is handed out twice across restarts and crashes), NAT for traffic
// out (one nftables table owned by berthd), a DNS responder on the gateway that answers the names
// and aliases of the network's containers, and published ports from the host to containers.
// A `default` network exists from the first start.
//
// A container's lifecycle on a network: attach (lease, at create) -> plug (taps on the bridge,
// names resolvable, ports open: when its VM starts) -> unplug (when its VM ends) -> detach
// (lease released: when it is removed).
//
// Restarts: a crashed network actor is restarted and its containers plugged again; a crash of
// the net supervisor leaves bridges, taps and the nft table in place (running VMs keep their
// network) and its successor adopts them, but the owners of running containers must plug them
// again. A clean stop (user_shutdown) deletes every bridge, tap and the nft table, unless it was
// told `keep` first (live restore: containers keep running); records and leases stay in the store. docs/networking.md has the whole model.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::net {

/// Registry name of the net supervisor.
inline constexpr const char* net_supervisor_name = "nets";

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

/// The net supervisor.
using net_actor = caf::typed_actor<
    /// Creates a network (bridge, gateway address, NAT unless internal, DNS responder).
    caf::replies_to<create_atom, api::network_create_request>::with<api::network_info>,
    /// Every network.
    caf::replies_to<list_atom>::with<std::vector<api::network_info>>,
    /// One network by name or id (prefix).
    caf::replies_to<inspect_atom, std::string>::with<api::network_info>,
    /// Removes a network no container is attached to (conflict naming them otherwise; the
    /// default network cannot be removed).
    caf::replies_to<remove_atom, std::string>::with<void>,
    /// Removes every network without leases except the default one.
    caf::replies_to<prune_atom>::with<api::removed>,
    /// Leases an address on a network for a container: (container id, container name, network,
    /// requested ip or "", aliases). Answers its endpoint; the MAC is stable for the container
    /// on that network.
    caf::replies_to<attach_atom, std::string, std::string, std::string, std::string,
                    std::vector<std::string>>::with<api::endpoint>,
    /// Releases a container's lease on a network ("": on every network).
    caf::replies_to<detach_atom, std::string, std::string>::with<void>,
    /// A container's VM is about to start: creates a tap per endpoint on its bridge, makes its
    /// name and aliases resolvable, opens its published ports (to the first endpoint's address).
    /// Answers the tap names (in endpoint order) and the ports with their host ports resolved.
    caf::replies_to<plug_atom, std::string, std::vector<api::endpoint>,
                    std::vector<api::port_mapping>>::with<std::vector<std::string>,
                                                          std::vector<api::port_mapping>>,
    /// A container's VM ended: deletes its taps, names and open ports.
    caf::replies_to<unplug_atom, std::string>::with<void>,
    /// The next clean stop leaves bridges, taps and the nft table in place, as a crash does
    /// (containers keep running; the next berthd adopts them).
    caf::replies_to<keep_atom>::with<void>>;

/// Spawns the net supervisor linked to `parent`. It reads the networks from the store (found in
/// the registry under `store_name`) and serves nothing before they, the default network and
/// the nft table are in place.
net_actor spawn_net_supervisor(caf::local_actor* parent, net_options options);

}  // namespace berth::net
