// manifest: OCI / Docker schema 2 image manifests and image indexes, parsed from hostile bytes.
//
// Used by the OCI layout import and, later, by registry pulls: both hand these functions the raw
// blob and the media type its descriptor (or the registry's Content-Type) claims. Every limit is
// checked before anything is trusted: JSON size and nesting, layer count, digests, sizes.
#pragma once

#include "berth/image/descriptor.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// Largest manifest or index accepted (the distribution registry's own limit).
inline constexpr uint64_t max_manifest_bytes = 4 << 20;

/// Most layers an image may have.
inline constexpr size_t max_layers = 256;

/// Most manifests an index may list.
inline constexpr size_t max_index_entries = 1024;

/// An image manifest: one config and its layers, bottom first.
struct manifest {
  std::string media_type;                          ///< OCI or Docker schema 2 manifest type.
  descriptor config;                               ///< The image config.
  std::vector<descriptor> layers;                  ///< Layers in apply order.
  std::map<std::string, std::string> annotations;  ///< Free-form metadata.
};

/// An image index (or Docker manifest list): manifests for several platforms.
struct image_index {
  std::string media_type;                          ///< OCI index or Docker manifest list type.
  std::vector<descriptor> manifests;               ///< The entries, in document order.
  std::map<std::string, std::string> annotations;  ///< Free-form metadata.
};

/// Parses a manifest whose descriptor says `type` (empty: take the document's own mediaType).
/// invalid_argument for malformed documents, unsupported for schema 1, artifacts and
/// unsupported layer types.
caf::expected<manifest> parse_manifest(std::string_view json, std::string_view type);

/// Parses an index whose descriptor says `type` (empty: take the document's own mediaType).
caf::expected<image_index> parse_index(std::string_view json, std::string_view type);

/// The entry of `index` for `want`; not_found naming the platforms the index offers.
caf::expected<descriptor> select_platform(const image_index& index, const platform& want);

}  // namespace berth::image
