// files: the container's files for `berth cp`: stat, list, read, mkdir, write, symlink, set_times.
//
// Every path is resolved inside the container root, as if that root were `/`: the root directory
// is opened once, and each lookup is an openat2(2) from it with RESOLVE_IN_ROOT (`..` and absolute
// symlinks stay inside) and RESOLVE_NO_MAGICLINKS (a /proc/<pid>/root inside the container would
// otherwise lead out of it). Operations on the last component itself (lstat, mkdir, symlink,
// O_NOFOLLOW opens, times) resolve its parent that way and use the *at() calls on the final name,
// so a symlink there is never followed out of the root either.
#pragma once

#include "berth/os/fd.hpp"

#include "berth/agent/protocol.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace berth::agent {

/// Entries a `list` answer may carry: the host's msgpack decoder takes at most 65536 elements in
/// one array (berth::rpc::limits::max_elements).
constexpr std::size_t max_list_entries = 1u << 16;

/// Bytes of data one `read` returns, and one `write` takes, at most.
constexpr std::size_t max_file_chunk = 1u << 20;

/// openat2(2) of `rel` (relative; absolute symlinks and `..` stay inside) under the directory
/// `root` with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, close-on-exec; -1 with errno on failure.
int open_in_root(int root, const std::string& rel, int flags, unsigned mode = 0);

/// The files under one root directory. Errors are rpc::call_error: invalid_argument (a relative
/// path, a last component "." or "..", a limit exceeded), not_found, conflict (not a directory,
/// not a regular file, a symlink where none may be), io (anything else, with strerror).
class root_files {
 public:
  /// Opens `root` (a directory); throws io if it cannot.
  explicit root_files(const std::string& root);

  /// The file at `path`, not following a symlink in the last component (lstat).
  file_info stat(const std::string& path) const;

  /// The entries of the directory at `path` (without . and ..), `path` of each being its name;
  /// invalid_argument beyond `max_entries`.
  std::vector<file_info> list(const std::string& path,
                              std::size_t max_entries = max_list_entries) const;

  /// Up to `length` (at most max_file_chunk) bytes of the regular file at `path`, from `offset`.
  read_result read(const read_request& req) const;

  /// Creates the directory `info.path` (its parent must exist; an existing directory is fine),
  /// then sets owner, mode and, when mtime_ns is not 0, its times.
  void mkdir(const file_info& info) const;

  /// Writes `data` at `offset` of the regular file at `path`; with `create` makes or truncates it
  /// first with mode, uid and gid. A symlink as the last component is refused.
  void write(const write_request& req) const;

  /// Creates the symlink `info.path` -> `info.link` (replacing a non-directory), owned by
  /// uid:gid, with mtime_ns as its times when not 0.
  void symlink(const file_info& info) const;

  /// Sets access and modification time of `info.path` itself (not a symlink's target) to
  /// mtime_ns.
  void set_times(const file_info& info) const;

 private:
  struct parent_ref {
    os::unique_fd dir;  // the parent directory, resolved inside the root
    std::string name;   // the last component ("." for the root itself)
  };

  // Resolves `path`'s parent directory; the last component is returned as it is.
  parent_ref parent_of(const std::string& path) const;

  // openat2 of `path` inside the root with `flags` (following symlinks, inside the root).
  os::unique_fd open_path(const std::string& path, int flags, unsigned mode = 0) const;

  os::unique_fd root_;
};

}  // namespace berth::agent
