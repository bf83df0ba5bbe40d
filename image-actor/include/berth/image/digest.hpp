// digest: content digests, the names of everything in the content store.
//
// berth accepts exactly one form, "sha256:" followed by 64 lowercase hex digits; any other
// algorithm is refused until the store can hold it. Hashing goes through OpenSSL's EVP.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace berth::image {

/// Length of a valid digest: "sha256:" and 64 hex digits.
inline constexpr size_t digest_length = 7 + 64;

/// Whether `text` is "sha256:" followed by 64 lowercase hex digits.
bool is_digest(std::string_view text);

/// Checks `text` as a digest: invalid_argument if malformed, unsupported for another algorithm.
caf::expected<void> check_digest(std::string_view text);

/// The 64 hex digits of a digest that passed is_digest.
std::string_view digest_hex(std::string_view digest);

/// An incremental sha256 (thread-compatible: one instance per thread).
class sha256 {
 public:
  /// Starts an empty hash.
  sha256();
  ~sha256();
  sha256(sha256&& other) noexcept;
  sha256& operator=(sha256&& other) noexcept;
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  /// Adds `size` bytes at `data`.
  void update(const void* data, size_t size);

  /// Adds `bytes`.
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

  /// Ends the hash and returns "sha256:<hex>"; the object starts over afterwards.
  std::string finish();

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

/// The digest ("sha256:<hex>") of `bytes`.
std::string sha256_of(std::string_view bytes);

/// A digest and the number of bytes it covers.
struct digest_and_size {
  std::string digest;  ///< "sha256:<hex>".
  uint64_t size = 0;   ///< Bytes hashed.
};

/// Hashes the file at `path`; io error if it cannot be read.
caf::expected<digest_and_size> sha256_of_file(const std::filesystem::path& path);

/// Hashes what `fd` yields until end of file; io error on a read error.
caf::expected<digest_and_size> sha256_of_fd(int fd);

}  // namespace berth::image
