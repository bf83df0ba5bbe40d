// descriptor: what OCI and Docker schema 2 documents point at, and the media types berth knows.
//
// A descriptor names a blob by media type, digest and size; an image index adds the platform of
// each manifest it lists. berth accepts OCI and Docker schema 2 media types for indexes,
// manifests, configs and layers (gzip, zstd or uncompressed); schema 1, foreign and
// non-distributable layers and other artifacts are unsupported.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// Media types of the documents and blobs berth reads.
namespace media_type {
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view oci_layer_zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_v1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view docker_manifest_v1_signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view docker_config = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view docker_layer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view docker_layer_gzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view docker_layer_zstd =
    "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view docker_layer_foreign =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}  // namespace media_type

/// What a media type says a blob is.
enum class blob_kind {
  index,     ///< An OCI image index or a Docker manifest list.
  manifest,  ///< An OCI or Docker schema 2 image manifest.
  config,    ///< An OCI or Docker image config.
  layer,     ///< A layer berth can unpack.
  unknown,   ///< Anything else (schema 1, foreign layers, artifacts).
};

/// The kind of blob `type` names.
blob_kind kind_of(std::string_view type);

/// How a layer is compressed.
enum class compression { none, gzip, zstd };

/// The compression of a layer of media type `type`: unsupported for foreign, non-distributable
/// and unknown layer types.
caf::expected<compression> layer_compression(std::string_view type);

/// An operating system and CPU, as image indexes and configs name them.
struct platform {
  std::string os;            ///< "linux".
  std::string architecture;  ///< "amd64", "arm64".
  std::string variant;       ///< "v8"; empty matches any variant.

  /// "os/architecture" or "os/architecture/variant".
  std::string to_string() const;

  friend bool operator==(const platform&, const platform&) = default;
};

/// linux/amd64, the platform berth's VMs run.
platform default_platform();

/// Parses "os/arch[/variant]", normalizing aliases (x86_64 -> amd64, aarch64 -> arm64).
caf::expected<platform> parse_platform(std::string_view text);

/// Whether an image for `have` runs where `want` is asked; the variant counts only if `want`
/// names one.
bool platform_matches(const platform& have, const platform& want);

/// Points at a blob: its media type, digest and size.
struct descriptor {
  std::string media_type;                          ///< What the blob is.
  std::string digest;                              ///< "sha256:<hex>", validated.
  uint64_t size = 0;                               ///< Exact size in bytes.
  std::map<std::string, std::string> annotations;  ///< Free-form metadata.
  std::optional<image::platform> platform;         ///< Set for manifests listed in an index.

  friend bool operator==(const descriptor&, const descriptor&) = default;
};

}  // namespace berth::image
