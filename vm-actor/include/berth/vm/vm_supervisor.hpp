// vm_supervisor: owns every container on this host, one vm actor each.
//
// It holds the table of containers (names, ids, their latest records as the vm actors report
// them), creates containers from an image and a spec, and routes each request to the container's
// vm actor by name, id or unique id prefix. On start it loads every record from the store and
// spawns their vm actors before it serves anything. A vm actor that crashes is restarted from its
// last record (its VM keeps running in its own session; see vm_actor.hpp).
#pragma once

#include "berth/actors/vms.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/vm/vm_actor.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace berth::vm {

/// Spawns the vm supervisor linked to `parent`.
vm_supervisor_actor spawn_vm_supervisor(caf::local_actor* parent,
                                        std::shared_ptr<const vm_environment> env);

/// A record as `ps` and `inspect` show it.
api::container_info to_info(const container_record& rec, const vm_environment& env);

}  // namespace berth::vm
