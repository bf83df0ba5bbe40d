// store: spawns berthd's metadata store, the single writer of DATA/berth.db.
//
// SQLite in WAL mode with synchronous=FULL: a write is answered only after its transaction is
// durable, so whatever berthd acknowledged survives kill -9 or a power cut. Records are msgpack
// maps (see actors/records.hpp), so new fields need no migration. The store runs on its own
// thread (a detached actor): SQLite calls block.
#pragma once

#include "berth/actors/store.hpp"

#include <caf/expected.hpp>

#include <filesystem>

namespace berth {

/// Opens (creating if needed) the database at `path` and spawns the store linked to `parent`.
/// Fails when the database cannot be opened or has a newer schema.
caf::expected<store_actor> spawn_store(caf::local_actor* parent, const std::filesystem::path& path);

}  // namespace berth
