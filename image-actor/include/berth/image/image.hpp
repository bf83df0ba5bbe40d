// image: resolving a manifest or index into an image whose every blob is verified in the store.
//
// resolve_image walks from a root descriptor (an index, possibly nested, or a manifest), picks
// the platform, and asks a blob_source to put each blob it needs into the content store: the OCI
// layout import copies it from a directory or checks it arrived in an archive; a registry pull
// downloads it. Manifests and configs are read back from the store and verified again.
#pragma once

#include "berth/image/config.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/descriptor.hpp"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// Deepest nesting of image indexes followed.
inline constexpr size_t max_index_depth = 4;

/// An image ready to unpack: manifest, config and layers, all present and verified in the store.
struct resolved_image {
  std::string root_digest;         ///< Digest of the descriptor resolution started from.
  descriptor manifest;             ///< The manifest chosen for the platform.
  std::string config_digest;       ///< Digest of the config: the image id.
  image_config config;             ///< The parsed config.
  std::vector<descriptor> layers;  ///< Layers, bottom first.
  uint64_t layers_size = 0;        ///< Sum of the (compressed) layer sizes.
};

/// Brings blobs into the content store for resolve_image.
class blob_source {
 public:
  virtual ~blob_source();

  /// Makes the blob `d` present in the store, verified against its digest and size. `role`
  /// ("manifest", "config", "layer 3") says what it is, for progress; resolve_image puts role and
  /// digest before the text of any error returned.
  virtual caf::expected<void> fetch(const descriptor& d, std::string_view role) = 0;

  /// Makes every layer of a manifest present, as fetch does for one; the default fetches them
  /// one after another, a registry source several at once. An error names the layer
  /// ("layer 3 sha256:...: ...").
  virtual caf::expected<void> fetch_layers(const std::vector<descriptor>& layers);
};

/// Resolves `root` for `want`: not_found if no manifest matches, invalid_argument for anything
/// malformed or inconsistent (layer count against diff_ids), unsupported for unknown media types.
caf::expected<resolved_image> resolve_image(const content_store& store, blob_source& source,
                                            const descriptor& root, const platform& want);

}  // namespace berth::image
