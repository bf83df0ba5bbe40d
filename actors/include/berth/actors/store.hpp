// store: the typed handle of berthd's metadata store, the single writer of DATA/berth.db.
//
// The implementation lives in supervisor/ (it is a child of the root supervisor); the handle is
// here because every component that persists something talks to it. Writes are answered only
// after the SQLite transaction committed, so an acknowledged write survives kill -9.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace berth {

/// Registry name of the store.
inline constexpr const char* store_name = "store";

/// The metadata store.
using store_actor = caf::typed_actor<
    /// Inserts or replaces a container record.
    caf::replies_to<save_atom, container_record>::with<void>,
    /// Deletes a container record by id.
    caf::replies_to<erase_atom, container_atom, std::string>::with<void>,
    /// Every container record.
    caf::replies_to<list_atom, container_atom>::with<std::vector<container_record>>,
    /// Inserts or replaces an image record.
    caf::replies_to<save_atom, image_record>::with<void>,
    /// Deletes an image record by id.
    caf::replies_to<erase_atom, image_atom, std::string>::with<void>,
    /// Every image record.
    caf::replies_to<list_atom, image_atom>::with<std::vector<image_record>>,
    /// Inserts or replaces a volume record.
    caf::replies_to<save_atom, volume_record>::with<void>,
    /// Deletes a volume record by name.
    caf::replies_to<erase_atom, volume_atom, std::string>::with<void>,
    /// Every volume record.
    caf::replies_to<list_atom, volume_atom>::with<std::vector<volume_record>>,
    /// Inserts or replaces a network record (its leases included).
    caf::replies_to<save_atom, network_record>::with<void>,
    /// Deletes a network record by id.
    caf::replies_to<erase_atom, network_atom, std::string>::with<void>,
    /// Every network record.
    caf::replies_to<list_atom, network_atom>::with<std::vector<network_record>>>;

/// The store's current handle (a restarted store has a new one); null while it is not running.
inline store_actor store_of(caf::actor_system& sys) {
  return sys.registry().get<store_actor>(registry_key(store_name));
}

/// For a supervisor that loads its records from the store before it serves: the store, or,
/// when the store is restarting at this very moment, null after ending `self` with "the store
/// is not running", so that its own supervisor starts it again after a backoff instead of it
/// serving empty tables for good.
template <class Self>
store_actor store_to_load_from(Self* self) {
  auto store = store_of(self->home_system());
  if (!store) self->quit(make_error(errc::unavailable, "the store is not running"));
  return store;
}

}  // namespace berth
