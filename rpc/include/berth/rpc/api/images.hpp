// api/images: image.* and registry.* payloads (pull, push, load, save, tag, remove, inspect,
// login).
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"
#include "berth/rpc/api/health.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace berth::api {

/// An image as `image ls` shows it.
struct image_info {
  std::string id;                 ///< "sha256:<hex>" of the image config.
  std::vector<std::string> tags;  ///< Normalized references ("busybox:latest").
  std::string manifest_digest;    ///< Digest of the manifest it was loaded or pulled from.
  std::string os;
  std::string architecture;
  uint64_t size = 0;       ///< Bytes of its (compressed) layers.
  uint64_t disk_size = 0;  ///< Bytes of its erofs image disk.
  int64_t created = 0;     ///< Unix time (s) from the image config, 0 if absent.
  BERTH_FIELDS(image_info, id, tags, manifest_digest, os, architecture, size, disk_size, created);
};

/// Returned by image.load.begin; names the upload in the chunk and end calls.
struct upload {
  uint32_t upload_id = 0;
  BERTH_FIELDS(upload, upload_id);
};

/// Argument of image.load.chunk: the next bytes of an OCI archive (a tar).
struct upload_chunk {
  uint32_t upload_id = 0;
  std::vector<char> data;  ///< At most 1 MiB.
  BERTH_FIELDS(upload_chunk, upload_id, data);
};

/// Argument of image.pull.
struct pull_request {
  std::string reference;  ///< "busybox", "host:5000/a/b:t", "x@sha256:..."
  std::string platform;   ///< "linux/amd64" (default), "linux/arm64/v8".
  BERTH_FIELDS(pull_request, reference, platform);
};

/// Argument of image.push.
struct push_request {
  std::string reference;
  BERTH_FIELDS(push_request, reference);
};

/// Result of image.push.
struct pushed {
  std::string digest;  ///< Digest of the manifest as the registry stores it.
  uint64_t size = 0;   ///< Bytes uploaded (blobs the registry already had are not counted).
  BERTH_FIELDS(pushed, digest, size);
};

/// Notification `progress` while a pull or push runs: one item (a layer, the config, the
/// manifest) changed. A client shows one line or bar per `id`.
struct progress {
  std::string reference;  ///< The pull's or push's reference, as the client gave it.
  std::string id;         ///< Short digest of the blob ("3f2a1b4c5d6e").
  std::string status;     ///< "waiting", "downloading", "uploading", "verifying", "done",
                          ///< "exists" (already stored), "retrying".
  uint64_t current = 0;   ///< Bytes so far.
  uint64_t total = 0;     ///< Bytes in all (0 if unknown).
  BERTH_FIELDS(progress, reference, id, status, current, total);
};

/// Argument of image.tag.
struct tag_request {
  std::string source;  ///< Reference or id of an image.
  std::string target;  ///< The new reference.
  BERTH_FIELDS(tag_request, source, target);
};

/// Argument of image.remove.
struct image_remove_request {
  std::string reference;  ///< Reference or id.
  bool force = false;     ///< Remove even if tagged more than once, or used by stopped containers.
  BERTH_FIELDS(image_remove_request, reference, force);
};

/// Argument of image.prune.
struct prune_request {
  bool all = false;  ///< Also images with tags that no container uses (default: only untagged).
  BERTH_FIELDS(prune_request, all);
};

/// Argument of image.save: the images to write into one OCI archive (sent as a stream of tar
/// bytes on fd 1).
struct save_request {
  std::vector<std::string> references;
  BERTH_FIELDS(save_request, references);
};

/// Names an image by reference or id.
struct image_ref {
  std::string reference;
  BERTH_FIELDS(image_ref, reference);
};

/// Result of image.inspect: image_info and what its config says.
struct image_detail {
  image_info info;
  std::vector<std::string> layers;  ///< Layer digests, bottom first.
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string workdir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;
  std::vector<std::string> volumes;
  std::map<std::string, std::string> labels;
  api::healthcheck healthcheck;  ///< config.Healthcheck; an empty test: none.
  BERTH_FIELDS(image_detail, info, layers, entrypoint, cmd, env, workdir, user, stop_signal,
               exposed_ports, volumes, labels, healthcheck);
};

/// Argument of registry.login: checked against the registry before it is stored.
struct login_request {
  std::string server;  ///< "host:port" ("docker.io" for Docker Hub).
  std::string username;
  std::string password;
  BERTH_FIELDS(login_request, server, username, password);
};

/// Argument of registry.logout.
struct logout_request {
  std::string server;
  BERTH_FIELDS(logout_request, server);
};

}  // namespace berth::api
