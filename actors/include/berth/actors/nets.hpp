// nets: the typed handle of berthd's net supervisor (net-actor/), which owns every network on
// this host. A container's life on a network: lease (an address, at create) -> plug (taps,
// names and ports, when its VM starts) -> unplug (when its VM ends) -> release (the lease, when it
// is removed). The handle lives here so that its callers need not link the network implementation.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace berth {

/// Registry name of the net supervisor.
inline constexpr const char* net_supervisor_name = "nets";

/// The net supervisor.
using net_supervisor_actor = caf::typed_actor<
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
    caf::replies_to<lease_atom, std::string, std::string, std::string, std::string,
                    std::vector<std::string>>::with<api::endpoint>,
    /// Releases a container's lease on a network ("": on every network).
    caf::replies_to<release_atom, std::string, std::string>::with<void>,
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

/// The current handle of the net supervisor (a restarted one has a new handle); null
/// while it is not running.
inline net_supervisor_actor net_supervisor_of(caf::actor_system& sys) {
  return sys.registry().get<net_supervisor_actor>(registry_key(net_supervisor_name));
}

}  // namespace berth
