// image_actor: the image supervisor of berthd: every image on this host, its content and disk.
//
// It serves image lists and lookups from the store's records, and runs each load, pull, push,
// save, login and garbage collection as its own worker so that a slow or failing one never
// blocks the others. Content lives in DATA/content (verified blobs), image disks in
// DATA/images/<id>/rootfs.erofs, built once per image and shared by every container of it,
// logins in DATA/credentials.json (0600).
//
// Each pull of a (reference, platform) is one puller actor (a detached worker); concurrent pulls
// of the same image join it. A puller that crashes is restarted (at most max_pull_restarts
// times) and resumes from what the content store already holds; one whose every listener went
// away (the client hung up) is cancelled. Blobs that a pull or load in flight uses are leased:
// image rm and prune never delete them.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/image/registry.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <filesystem>
#include <functional>
#include <string>

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

/// Settings of the image supervisor.
struct image_options {
  /// Where content, image disks and logins live.
  std::filesystem::path data_root;
  /// How registries are reached (certs.d, insecure registries, parallel downloads, retries).
  /// Its `credentials` is filled in by the actor (logins, then the Docker config) when empty.
  registry_options registry;
  /// Docker config read for logins berth does not have (empty: none).
  std::filesystem::path docker_config = credential_store::default_docker_config();
  /// Restarts of a crashed puller before its pull fails.
  int max_pull_restarts = 3;
  /// Called on the puller's thread after each blob it stores (tests inject crashes here).
  std::function<void(const std::string& digest)> after_blob;
};

/// Spawns the image supervisor linked to `parent`, keeping its files under `data_root`.
image_actor spawn_image_supervisor(caf::local_actor* parent, std::filesystem::path data_root);

/// Spawns the image supervisor linked to `parent` with `options`.
image_actor spawn_image_supervisor(caf::local_actor* parent, image_options options);

}  // namespace berth::image
