// images: the typed handle of berthd's image supervisor (image-actor/), which owns every image on
// this host. The handle lives here, beside the store's, so that the components that talk to it
// (the vm supervisor, berthd's request handlers) need not link the image implementation.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace berth {

/// Registry name of the image supervisor.
inline constexpr const char* image_supervisor_name = "images";

/// The image supervisor.
using image_supervisor_actor = caf::typed_actor<
    /// Loads the OCI image layout or OCI archive at `path` (a file or directory on this host);
    /// answers the images it held.
    caf::replies_to<load_atom, std::string>::with<std::vector<api::image_info>>,
    /// Every image.
    caf::replies_to<list_atom>::with<std::vector<api::image_info>>,
    /// What a container needs of the image named by a reference or an id (prefix).
    caf::replies_to<resolve_atom, std::string>::with<image_runtime>,
    /// Pulls a reference for a platform ("" = linux/amd64), sending (progress_atom,
    /// api::progress) to the listener (may be null). Concurrent pulls of one reference and
    /// platform share one puller; each caller gets the answer.
    caf::replies_to<pull_atom, std::string, std::string, caf::actor>::with<api::image_info>,
    /// Pushes a local image to the registry its reference names, with progress as for pulls.
    caf::replies_to<push_atom, std::string, caf::actor>::with<api::pushed>,
    /// Gives the image named by the first argument (reference or id) the reference in the second.
    caf::replies_to<tag_atom, std::string, std::string>::with<void>,
    /// Untags (and, when no tag is left, deletes) an image; `force` as in `image rm -f`.
    caf::replies_to<remove_atom, std::string, bool>::with<api::removed>,
    /// Deletes untagged images (all unused images with `all`) and every unreferenced blob.
    caf::replies_to<prune_atom, bool>::with<api::removed>,
    /// Writes the images into one OCI archive, sent to the sink as (output_atom, "", 1, 0, bytes)
    /// messages and a final (end_atom, ""); answers when all is sent.
    caf::replies_to<save_atom, std::vector<std::string>, caf::actor>::with<void>,
    /// One image in detail.
    caf::replies_to<inspect_atom, std::string>::with<api::image_detail>,
    /// Checks the credentials against the registry and stores them (root-only file).
    caf::replies_to<login_atom, std::string, std::string, std::string>::with<void>,
    /// Forgets the credentials of a registry.
    caf::replies_to<logout_atom, std::string>::with<void>>;

/// The current handle of the image supervisor (a restarted one has a new handle); null
/// while it is not running.
inline image_supervisor_actor image_supervisor_of(caf::actor_system& sys) {
  return sys.registry().get<image_supervisor_actor>(registry_key(image_supervisor_name));
}

}  // namespace berth
