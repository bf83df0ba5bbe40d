// network: one network actor per network, spawned and routed to by the net supervisor.
//
// A network actor owns its network's bridge (made or adopted when it starts, deleted when it is
// removed or stopped cleanly), its lease table (every change saved through the store before it
// is answered), the taps of its plugged containers, its DNS responder and the port proxies of
// the containers whose first endpoint it is. A crashed network actor leaves its bridge and taps
// in place (running VMs keep their network); its successor adopts them.
#pragma once

#include <atomic>
#include "dns.hpp"

#include "berth/actors/records.hpp"
#include "berth/actors/supervision.hpp"
#include "berth/actors/vocabulary.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace berth::net {

/// A network actor.
using network_actor = caf::typed_actor<
    /// Answered once the bridge is up (or with why it could not be made).
    caf::replies_to<start_atom>::with<void>,
    /// Leases an address: (container id, container name, requested ip or "", aliases).
    caf::replies_to<lease_atom, std::string, std::string, std::string,
                    std::vector<std::string>>::with<api::endpoint>,
    /// Releases a container's lease (unplugging it first); no lease is fine.
    caf::replies_to<release_atom, std::string>::with<void>,
    /// Plugs a container's endpoint number `index`: its tap, its names, and `ports` to its
    /// address. Answers the tap and the ports with their host ports resolved.
    caf::replies_to<plug_atom, std::string, uint32_t, api::endpoint,
                    std::vector<api::port_mapping>>::with<std::string,
                                                          std::vector<api::port_mapping>>,
    /// Unplugs a container (taps, names, ports); one not plugged here is fine.
    caf::replies_to<unplug_atom, std::string>::with<void>,
    /// Removes the network: refused (conflict) while leases exist; else the record is erased,
    /// the bridge deleted, the answer sent and the actor ends normally.
    caf::replies_to<remove_atom>::with<void>,
    /// A clean stop (berthd stops, or a create failed): the bridge, taps, names and ports go
    /// (the record stays), then the actor ends with `exit_reason::user_shutdown`. A message, not
    /// an exit message: CAF unlinks an actor from the sender of an exit message, and the
    /// supervisor must see this one end.
    caf::reacts_to<stop_atom>>;

/// What a network actor reports to its supervisor: every record it saved.
using network_listener = caf::typed_actor<caf::reacts_to<save_atom, network_record>>;

/// What every network actor shares.
struct network_settings {
  std::vector<dns::upstream> upstreams;  ///< Resolvers for names that are not containers'.
  uint16_t dns_port = 53;                ///< Where the responders listen on their gateways.
  std::string nft_table = "berth";       ///< Its netdev family holds the pins of the taps.
  /// Set by the supervisor before a clean stop that leaves containers running (live restore):
  /// network actors then end as after a crash, leaving bridge, taps and table in place.
  std::atomic<bool> keep_on_stop{false};
};

/// Spawns the actor of the network `rec`, linked to `supervisor`; it reports every change it
/// saved to `listener` (the supervisor's own handle). A malformed record (a subnet or gateway
/// that does not parse) is an error before anything is spawned.
caf::expected<network_actor> spawn_network(caf::local_actor* supervisor, network_listener listener,
                                           network_record rec,
                                           std::shared_ptr<const network_settings> settings);

/// The public description of a network.
api::network_info info_of(const network_record& rec);

}  // namespace berth::net
