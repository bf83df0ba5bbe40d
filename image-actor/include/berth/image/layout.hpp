// layout: importing OCI image layouts, from a directory (skopeo's `oci:DIR:TAG`) or from an OCI
// archive (a tar of such a directory, `oci-archive:FILE`, what `berth load` receives).
//
// The archive is read as a stream: blobs/sha256/* entries go straight into the content store,
// verified against their names, while index.json and oci-layout are kept in memory (size
// limited); then every image index.json lists is resolved for the requested platform. Nothing
// is copied to a temporary file first. Blobs that no chosen image uses stay in the store for
// the caller's garbage collection.
#pragma once

#include "berth/image/content_store.hpp"
#include "berth/image/descriptor.hpp"
#include "berth/image/image.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image {

/// Largest index.json accepted.
inline constexpr uint64_t max_index_json_bytes = 4 << 20;

/// Annotation with the full image name (containerd, Docker and berth write it).
inline constexpr std::string_view annotation_image_name = "io.containerd.image.name";

/// Annotation with the reference name, often only a tag (skopeo, OCI).
inline constexpr std::string_view annotation_ref_name = "org.opencontainers.image.ref.name";

/// One image that an index.json entry named.
struct loaded_image {
  /// io.containerd.image.name if present, else org.opencontainers.image.ref.name (which may be
  /// only a tag such as "latest"), else empty.
  std::string name;
  std::map<std::string, std::string> annotations;  ///< The index.json entry's annotations.
  resolved_image image;                            ///< The image for the platform asked for.
};

/// Pulls the next bytes of an archive: an empty view at the end; the view stays valid until the
/// next call. An error aborts the import with that error (so does an exception, as internal).
/// The import reads the stream to its end (at most 16 MiB past the tar's end marker).
using archive_reader = std::function<caf::expected<std::string_view>()>;

/// Imports the OCI image layout in directory `dir`.
caf::expected<std::vector<loaded_image>> load_layout_dir(content_store& store,
                                                         const std::filesystem::path& dir,
                                                         const platform& want = default_platform());

/// Imports the OCI archive at `file` (a tar, optionally gzip or zstd compressed).
caf::expected<std::vector<loaded_image>> load_layout_archive(
    content_store& store, const std::filesystem::path& file,
    const platform& want = default_platform());

/// Imports an OCI archive read from `fd` until end of file (a pipe or socket works).
caf::expected<std::vector<loaded_image>> load_layout_archive_fd(
    content_store& store, int fd, const platform& want = default_platform());

/// Imports an OCI archive whose bytes `read` delivers.
caf::expected<std::vector<loaded_image>> load_layout_archive_stream(
    content_store& store, archive_reader read, const platform& want = default_platform());

/// One image to write into an OCI archive.
struct archive_image {
  /// Full reference it is saved as ("docker.io/library/busybox:latest"), or empty.
  std::string name;
  /// Its manifest; index.json lists it with the platform when one is set.
  descriptor manifest;
};

/// Receives the next bytes of an archive being written; an error stops the writing.
using archive_writer = std::function<caf::expected<void>(std::string_view)>;

/// Writes an OCI archive (a tar: oci-layout, index.json, blobs/sha256/*) of `images` from
/// `store` to `write`, streaming: blobs are read from the store as they are written. index.json
/// has an entry per image, annotated with io.containerd.image.name (the full name) and
/// org.opencontainers.image.ref.name (its tag), as containerd and Docker write them; blobs
/// shared by images are written once. What load_layout_archive reads back.
caf::expected<void> write_oci_archive(const content_store& store,
                                      const std::vector<archive_image>& images,
                                      const archive_writer& write);

}  // namespace berth::image
