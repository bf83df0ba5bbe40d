// content_store: verified blobs on disk, named by their digest (DATA/content).
//
//   ROOT/blobs/sha256/<hex>   complete, verified blobs (read-only, never rewritten)
//   ROOT/ingest/<hex>.XXXXXX  blobs being written
//
// A blob is written to an ingest file while it is hashed, checked against the expected digest and
// size, fsynced, renamed into blobs/ and the directory fsynced. On any mismatch the ingest file is
// deleted and nothing is stored, so a file under blobs/ is always complete and verified; a crash
// mid-ingest leaves at most a file under ingest/ (remove_stale_ingests clears them at startup).
// Methods are thread-safe; one ingest_writer belongs to one thread.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "berth/image/digest.hpp"

namespace berth::image {

/// Writes one blob into the store; nothing is visible until commit succeeds.
///
/// Destroying a writer that was not committed deletes its ingest file. If the blob is already in
/// the store, the writer only hashes what it is given, so the bytes are still verified.
class ingest_writer {
 public:
  ingest_writer() = default;
  ingest_writer(ingest_writer&& other) noexcept;
  ingest_writer& operator=(ingest_writer&& other) noexcept;
  ingest_writer(const ingest_writer&) = delete;
  ingest_writer& operator=(const ingest_writer&) = delete;
  ~ingest_writer();

  /// Appends `size` bytes; invalid_argument (and the ingest aborted) past the expected size.
  caf::expected<void> write(const void* data, size_t size);

  /// Verifies size and digest, then makes the blob visible; the writer is done either way.
  caf::expected<void> commit();

  /// Drops the ingest file; nothing is stored.
  void abort();

  /// Bytes written so far.
  uint64_t written() const { return written_; }

  /// The digest this writer expects.
  const std::string& digest() const { return digest_; }

 private:
  friend class content_store;

  int fd_ = -1;
  bool active_ = false;
  std::filesystem::path ingest_path_;
  std::filesystem::path blob_path_;
  std::filesystem::path blob_dir_;
  std::string digest_;
  uint64_t expected_size_ = 0;
  uint64_t written_ = 0;
  image::sha256 hash_;
};

/// The blobs of every image, verified, under one directory.
class content_store {
 public:
  /// Opens (creating if needed) the store rooted at `root`; io error if it cannot.
  static caf::expected<content_store> open(std::filesystem::path root);

  /// The directory the store lives in.
  const std::filesystem::path& root() const { return root_; }

  /// Whether a complete blob named `digest` is stored (false for a malformed digest).
  bool contains(std::string_view digest) const;

  /// Where the blob named `digest` is; not_found if it is not stored.
  caf::expected<std::filesystem::path> path_of(std::string_view digest) const;

  /// Size of the stored blob named `digest`; not_found if it is not stored.
  caf::expected<uint64_t> size_of(std::string_view digest) const;

  /// Starts writing the blob `digest` of `size` bytes.
  caf::expected<ingest_writer> begin(std::string_view digest, uint64_t size) const;

  /// Copies the file at `source` into the store, verified against `digest` and `size`.
  caf::expected<void> ingest_file(const std::filesystem::path& source, std::string_view digest,
                                  uint64_t size) const;

  /// Stores `bytes`, verified against `digest`.
  caf::expected<void> ingest_bytes(std::string_view bytes, std::string_view digest) const;

  /// Reads a small blob (manifest, config) and verifies its digest again; invalid_argument if it
  /// is larger than `max_bytes`, io if the stored bytes no longer match.
  caf::expected<std::string> read_small(std::string_view digest, uint64_t max_bytes) const;

  /// Deletes the blob named `digest`; not_found if it is not stored.
  caf::expected<void> remove(std::string_view digest) const;

  /// The digests of every stored blob, sorted.
  caf::expected<std::vector<std::string>> list() const;

  /// Deletes every file under ingest/ (left by a crash); call only while nothing is ingesting.
  caf::expected<size_t> remove_stale_ingests() const;

 private:
  explicit content_store(std::filesystem::path root) : root_(std::move(root)) {}

  std::filesystem::path blob_path(std::string_view digest) const;

  std::filesystem::path root_;
};

}  // namespace berth::image
