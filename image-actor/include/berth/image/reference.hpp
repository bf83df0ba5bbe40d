// reference: image references as people type them, parsed and normalized the way Docker does.
//
// The grammar is the distribution project's (name [":" tag] ["@" digest]); normalization fills in
// the registry docker.io, the "library/" namespace of official images and the tag "latest":
//   busybox                 -> docker.io/library/busybox:latest
//   user/app:1              -> docker.io/user/app:1
//   localhost:5000/a/b:t    -> localhost:5000/a/b:t
//   host.example/x@sha256:… -> host.example/x@sha256:…   (no default tag with a digest)
#pragma once

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace berth::image {

/// The registry of references that name none.
inline constexpr std::string_view default_domain = "docker.io";

/// The tag of references that name neither a tag nor a digest.
inline constexpr std::string_view default_tag = "latest";

/// A normalized image reference.
struct reference {
  std::string domain;  ///< Registry host with optional port: "docker.io", "localhost:5000".
  std::string path;    ///< Repository path: "library/busybox", "a/b".
  std::string tag;     ///< "latest", or empty when only a digest was given.
  std::string digest;  ///< "sha256:<hex>", or empty.

  /// The repository: domain and path ("docker.io/library/busybox").
  std::string name() const;

  /// The full form: "docker.io/library/busybox:latest", "host/x@sha256:…".
  std::string to_string() const;

  /// The repository as `image ls` shows it: "busybox", "user/app", "localhost:5000/a/b".
  std::string familiar_name() const;

  /// The reference as `image ls` shows it: "busybox:latest", "user/app:1".
  std::string familiar() const;

  friend bool operator==(const reference&, const reference&) = default;
};

/// Parses and normalizes `text`; invalid_argument naming the reason if it is not a reference.
caf::expected<reference> parse_reference(std::string_view text);

/// Whether `text` is a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
bool is_tag(std::string_view text);

}  // namespace berth::image
