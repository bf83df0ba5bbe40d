// support: what the image library's tests share: temporary directories, running programs,
// writing tars with libarchive, building OCI layouts and archives, and the busybox fixture.
#pragma once

#include "berth/actors/vocabulary.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/descriptor.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image::test {

namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents at destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory.
  const fs::path& path() const { return path_; }

  /// A path inside the directory.
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// What a program did: its wait status decoded and its stdout and stderr together.
struct run_result {
  int exit_code = -1;  ///< Exit code, or -1 if it was killed.
  std::string output;
};

/// Runs `argv` (no shell) and waits for it.
run_result run(const std::vector<std::string>& argv);

/// Whether `program` is found in PATH.
bool have_program(std::string_view program);

/// Writes `bytes` to `path`, replacing it.
void write_file(const fs::path& path, std::string_view bytes);

/// Reads the whole file at `path`.
std::string read_file(const fs::path& path);

/// Runs scripts/fixtures/busybox-image.sh of the source tree this was built from into `dir`;
/// fails the test if it fails.
void build_busybox_fixture(const fs::path& dir);

/// The code of a failed expected, for CHECKs.
template <class T>
errc code(const caf::expected<T>& x) {
  return x ? errc::none : code_of(x.error());
}

/// The message of a failed expected, for CHECKs.
template <class T>
std::string message(const caf::expected<T>& x) {
  return x ? std::string{} : describe(x.error());
}

/// One entry of a tar written by make_tar.
struct tar_entry {
  /// What the entry is.
  enum kind_t { file, dir, symlink, hardlink, chardev, blockdev, fifo };

  std::string name;            ///< Path inside the tar, written as it is.
  kind_t kind = file;          ///< Type.
  std::string data;            ///< Contents of a file.
  std::string link;            ///< Target of a symlink or hard link.
  int mode = -1;               ///< Permission bits; -1: 0644 files, 0755 dirs.
  int64_t uid = 0;             ///< Owner.
  int64_t gid = 0;             ///< Group.
  int64_t mtime = 1700000000;  ///< Modification time.
  unsigned dev_major = 0;      ///< Device numbers of a device node.
  unsigned dev_minor = 0;
  std::map<std::string, std::string> xattrs;  ///< Extended attributes.
};

/// A regular file entry.
tar_entry file(std::string name, std::string data, int mode = 0644);

/// A directory entry.
tar_entry dir(std::string name, int mode = 0755);

/// A symlink entry.
tar_entry symlink(std::string name, std::string target);

/// A hard link entry.
tar_entry hardlink(std::string name, std::string target);

/// A tar of `entries` (pax format), compressed as asked.
std::string make_tar(const std::vector<tar_entry>& entries, compression c = compression::none);

/// A layer ready to add to an image: the blob, its media type and the digest of its tar.
struct layer_blob {
  std::string bytes;       ///< Compressed blob.
  std::string media_type;  ///< Media type for the manifest.
  std::string diff_id;     ///< sha256 of the uncompressed tar.
};

/// Makes a layer of `entries`; `docker` picks Docker schema 2 media types.
layer_blob make_layer(const std::vector<tar_entry>& entries, compression c = compression::gzip,
                      bool docker = false);

/// Writes an OCI image layout, blob by blob.
class layout_builder {
 public:
  /// Starts a layout in `dir` (created if needed).
  explicit layout_builder(fs::path dir);

  /// The layout directory.
  const fs::path& dir() const { return dir_; }

  /// Adds a blob and returns its descriptor.
  descriptor add_blob(std::string_view bytes, std::string_view media_type);

  /// Adds a config, the layers and a manifest; returns the manifest's descriptor (with a
  /// platform). `config_extra` is merged into the config JSON.
  descriptor add_image(const std::vector<layer_blob>& layers,
                       const platform& p = default_platform(), bool docker = false,
                       const nlohmann::json& config_extra = {});

  /// Adds an index over `manifests`; returns its descriptor.
  descriptor add_index(const std::vector<descriptor>& manifests, bool docker = false);

  /// Writes index.json listing `entries` and the oci-layout file.
  void finish(const std::vector<descriptor>& entries, std::string_view layout_version = "1.0.0");

  /// Packs the layout into an OCI archive at `file` (a tar of the directory's contents).
  void pack(const fs::path& file) const;

 private:
  fs::path dir_;
};

/// `d` with annotations set.
descriptor annotated(descriptor d, std::map<std::string, std::string> annotations);

/// The JSON object of a descriptor, as manifests and indexes write it.
nlohmann::json to_json(const descriptor& d);

/// A tar (uncompressed) of the files under `dir`, entries named relative to it, sorted.
std::string tar_of_dir(const fs::path& dir);

}  // namespace berth::image::test
