// copy_plan: docker cp's rules as pure functions, so they are tested without a daemon: which
// argument names a container, how paths are cleaned, and where a copy lands given what the
// source and the destination are ("dir/." copies the contents; a file needs its destination
// directory to exist; a directory cannot replace a file), and what a copy out of a container may
// bring to the host (the guest is hostile: it chooses modes, sizes, counts and depth).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace berth::cli {

/// A mistake in what cp was asked to do, with a message for people.
class cp_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One argument of cp: a path in a container, a local path, or "-" (a tar stream).
struct cp_location {
  std::string container;  ///< Empty: local.
  std::string path;
};

/// Splits "CONTAINER:PATH" as docker does: an absolute path, a path without ':' and one whose
/// part before the ':' starts with '.' ("./a:b") are local.
cp_location split_cp_arg(const std::string& arg);

/// The path with empty and "." components dropped and ".." resolved lexically (Go's
/// path.Clean): "/a/./b/../c/" is "/a/c", "" is ".", "/.." is "/".
std::string clean_path(const std::string& path);

/// The last component of the cleaned path ("/" for the root, "." for ".").
std::string base_name(const std::string& path);

/// The cleaned path without its last component ("." for a relative single name, "/" under the
/// root).
std::string dir_name(const std::string& path);

/// Joins a directory and a relative name with one '/'.
std::string join_path(const std::string& dir, const std::string& name);

/// Whether the path ends with '/' or "/." (it must name a directory).
bool ends_with_separator(const std::string& path);

/// Whether the path's last component is "." ("dir/.", ".", "dir/./"): the contents of the
/// directory are copied, not the directory itself.
bool names_contents(const std::string& path);

/// What a path is, after following a symlink at its end.
enum class path_kind { missing, file, dir };

/// Where a copy lands: in the existing directory `dir`, under the name `name`; an empty `name`
/// puts the contents of the source directory straight into `dir`.
struct copy_target {
  std::string dir;
  std::string name;
};

/// Docker's rules for `cp SRC DEST`, where the source exists (`src_is_dir`: a directory) and
/// the destination is `dest_kind`:
/// - a file (or symlink) goes into an existing directory under its own name, replaces an
///   existing file, or becomes DEST when DEST does not exist (its directory must exist, which
///   the caller checks: `dir` of the result); DEST ending in '/' must then exist;
/// - a directory goes into an existing directory under its own name ("SRC/.": its contents),
///   becomes DEST when DEST does not exist, and cannot replace a file.
/// Throws cp_error for the error cases.
copy_target plan_copy(const std::string& src, bool src_is_dir, const std::string& dest,
                      path_kind dest_kind);

/// How much one copy out of a container may bring to the host (`cp --max-size`, `--max-entries`,
/// `--max-depth`). The guest lists, sizes and nests what it likes; the defaults are generous.
struct copy_limits {
  uint64_t max_bytes = 64ull << 30;  ///< File data in all.
  uint64_t max_entries = 1000000;    ///< Files, directories and symlinks.
  uint32_t max_depth = 256;          ///< Levels below the source (its entries are at 1).
};

/// What a copy out brought so far, refusing what goes over its limits with a cp_error that
/// names the limit and its flag.
class copy_budget {
 public:
  /// A budget of `limits`.
  explicit copy_budget(copy_limits limits) : limits_(limits) {}

  /// One more entry `name` at `depth` (the source itself is at 0).
  void entry(const std::string& name, uint32_t depth);

  /// `n` more bytes of the file `name`.
  void bytes(const std::string& name, uint64_t n);

  /// File data counted so far.
  uint64_t total_bytes() const { return bytes_; }

 private:
  copy_limits limits_;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
};

/// The permission bits a file or directory copied out of a container gets on the host: the
/// guest's, without setuid and setgid (a guest must not plant a privileged program or group).
uint32_t host_mode(uint32_t guest_mode);

}  // namespace berth::cli
