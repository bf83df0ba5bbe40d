// image_actor: the image supervisor of berthd: every image on this host, its content and disk.
//
// It serves image lists and lookups from the store's records, and runs each load (and, later,
// each pull) as its own worker so that a slow or failing one never blocks the others. Content
// lives in DATA/content (verified blobs), image disks in DATA/images/<id>/rootfs.erofs, built once
// per image and shared by every container of it.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <filesystem>

namespace berth::image {

/// Registry name of the image supervisor.
inline constexpr const char* image_supervisor_name = "images";

/// The image supervisor.
using image_actor = caf::typed_actor<
    /// Loads the OCI image layout or OCI archive at `path` (a file or directory on this host);
    /// answers the images it held.
    caf::replies_to<load_atom, std::string>::with<std::vector<api::image_info>>,
    /// Every image.
    caf::replies_to<list_atom>::with<std::vector<api::image_info>>,
    /// What a container needs of the image named by a reference or an id (prefix).
    caf::replies_to<resolve_atom, std::string>::with<image_runtime>>;

/// Spawns the image supervisor linked to `parent`, keeping its files under `data_root`.
image_actor spawn_image_supervisor(caf::local_actor* parent, std::filesystem::path data_root);

}  // namespace berth::image
