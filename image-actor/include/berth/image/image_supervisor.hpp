// image_supervisor_actor: the image supervisor of berthd: every image on this host, its content and
// disk.
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

#include "berth/actors/images.hpp"
#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/image/registry.hpp"
#include "berth/image/unpack.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <filesystem>
#include <functional>
#include <string>

namespace berth::image {

/// Settings of the image supervisor.
struct image_options {
  /// Where content, image disks and logins live.
  std::filesystem::path data_root;
  /// How registries are reached (certs.d, insecure registries, parallel downloads, retries).
  /// Its `credentials` is filled in by the actor (logins, then the Docker config) when empty.
  registry_options registry;
  /// Docker config read for logins berth does not have (empty: none).
  std::filesystem::path docker_config = credential_store::default_docker_config();
  /// Caps on the bytes and entries of each layer and image unpacked into a disk; a load or pull
  /// over them fails with protocol, naming the layer and the limit.
  unpack_limits unpack;
  /// Restarts of a crashed puller before its pull fails.
  int max_pull_restarts = 3;
  /// Called on the puller's thread after each blob it stores (tests inject crashes here).
  std::function<void(const std::string& digest)> after_blob;
};

/// Spawns the image supervisor linked to `parent`, keeping its files under `data_root`.
image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent,
                                              std::filesystem::path data_root);

/// Spawns the image supervisor linked to `parent` with `options`.
image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent, image_options options);

}  // namespace berth::image
