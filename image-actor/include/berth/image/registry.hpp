// registry: pulling images from and pushing them to OCI distribution registries over HTTP(S).
//
// Blocking library code for the image actor's worker threads, on libcurl. It speaks the
// distribution API: the /v2/ ping, manifests by tag or digest with the Accept headers for OCI
// and Docker schema 2 (schema 1 is refused), blobs streamed straight into the content store and
// verified there, monolithic uploads. Authentication follows the WWW-Authenticate challenge:
// Basic, or Bearer with a token from the challenge's realm (service and scope), cached per scope
// until it expires. TLS is verified against the system CAs plus every *.crt in
// CERTS_DIR/HOST[:PORT]/ (Docker's certs.d; client.cert/client.key too); plain HTTP is spoken
// only to registries marked insecure. Transfers are retried with backoff on dropped
// connections, 5xx and 429, and a broken blob download resumes with a Range request. Layers
// download several at once.
#pragma once

#include "berth/actors/vocabulary.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/credentials.hpp"
#include "berth/image/descriptor.hpp"
#include "berth/image/image.hpp"
#include "berth/image/reference.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// How to reach registries.
struct registry_options {
  /// Docker's certs.d: CERTS_DIR/HOST[:PORT]/*.crt are trusted CAs, client.cert/client.key a
  /// client certificate.
  std::filesystem::path certs_dir = "/etc/berth/certs.d";
  /// Registries ("host" or "host:port") that may be reached over plain HTTP or HTTPS with any
  /// certificate, as Docker's --insecure-registry.
  std::vector<std::string> insecure_registries;
  /// Whether loopback registries (localhost, 127.0.0.0/8, ::1) count as insecure, as Docker
  /// treats 127.0.0.0/8 by default.
  bool loopback_insecure = true;
  /// Layers downloaded at once by one pull.
  size_t max_concurrent_downloads = 3;
  /// Tries of one request before giving up (dropped connections, 5xx, 429).
  int max_attempts = 5;
  /// Wait before the first retry; doubles for each further one (at most 16 times this).
  std::chrono::milliseconds backoff{200};
  std::chrono::seconds connect_timeout{30};
  /// A transfer that moves no byte for this long is broken (and retried).
  std::chrono::seconds stall_timeout{60};
  /// The login for a registry ("docker.io", "host:port"), if any.
  std::function<std::optional<credential>(std::string_view server)> credentials;
};

/// The host HTTP requests for `domain` go to: registry-1.docker.io for docker.io.
std::string registry_api_host(std::string_view domain);

/// Whether `domain` may be spoken to over plain HTTP.
bool is_insecure_registry(const registry_options& opts, std::string_view domain);

/// Receives progress of one blob (reference left empty; the caller fills it in).
using progress_fn = std::function<void(const api::progress&)>;

/// What a pull asks for beyond the reference.
struct pull_options {
  platform want = default_platform();         ///< The platform chosen from an index.
  progress_fn progress;                       ///< Per-blob progress, from several threads.
  const std::atomic<bool>* cancel = nullptr;  ///< Set to stop the pull (errc::cancelled).
  /// Called with each blob's digest before it is fetched or reused (the caller's lease).
  std::function<void(const std::string&)> on_blob;
  /// Called after each blob is stored (tests inject faults here).
  std::function<void(const std::string&)> after_blob;
};

/// A pulled image: every blob verified in the store.
struct pulled_image {
  resolved_image image;      ///< Manifest, config and layers for the platform.
  descriptor root;           ///< What the reference named (an index or a manifest).
  std::string index_digest;  ///< root's digest when it is an index, else empty.
  std::string repo_digest;   ///< "registry/path@sha256:..." of root.
};

/// Pulls `ref` into `store`: what is already stored is not fetched again.
caf::expected<pulled_image> pull_image(const content_store& store, const reference& ref,
                                       const registry_options& opts, const pull_options& pull = {});

/// Pushes the image whose manifest `manifest_digest` is in `store` as `ref` (a tag): blobs the
/// registry lacks are uploaded, then the manifest. Answers the manifest digest and the bytes
/// uploaded.
caf::expected<api::pushed> push_image(const content_store& store, const reference& ref,
                                      std::string_view manifest_digest,
                                      const registry_options& opts,
                                      const progress_fn& progress = {},
                                      const std::atomic<bool>* cancel = nullptr);

/// Checks `cred` against the registry `server` (its /v2/ endpoint, or its token service).
caf::expected<void> check_login(std::string_view server, const credential& cred,
                                const registry_options& opts);

}  // namespace berth::image
