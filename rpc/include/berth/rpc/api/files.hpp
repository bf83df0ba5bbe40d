// api/files: container.file.* payloads: the bounded file calls of berth cp.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::api {

/// Bytes one container.file.read returns, and one container.file.write takes, at most.
constexpr uint32_t max_file_chunk = 1u << 20;

/// Names a path in a container (container.file.stat, container.file.list). Paths are absolute
/// and resolved inside the container's root, never outside it.
struct file_ref {
  std::string container;
  std::string path;
  BERTH_FIELDS(file_ref, container, path);
};

/// A file in a container: the result of container.file.stat (the path itself, a final symlink
/// not followed) and, one per entry, of container.file.list.
struct file_info {
  std::string path;   ///< stat: as asked; list: the entry's name (one path component).
  std::string type;   ///< "file", "dir", "symlink" or "other" (devices, FIFOs, sockets).
  uint32_t mode = 0;  ///< Permission bits (07777).
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  ///< Modification time, ns since the epoch.
  std::string link;      ///< A symlink's target, as stored.
  BERTH_FIELDS(file_info, path, type, mode, uid, gid, size, mtime_ns, link);
};

/// Argument of container.file.read: up to `length` bytes of a regular file from `offset`.
struct file_read_request {
  std::string container;
  std::string path;
  uint64_t offset = 0;
  uint32_t length = max_file_chunk;  ///< At most max_file_chunk.
  BERTH_FIELDS(file_read_request, container, path, offset, length);
};

/// Result of container.file.read.
struct file_data {
  std::vector<char> data;
  bool eof = false;  ///< No byte follows `data`.
  BERTH_FIELDS(file_data, data, eof);
};

/// Argument of container.file.write: bytes at `offset` of a regular file; with `create` the file
/// is made (or truncated) first with mode, uid and gid. A symlink in its place is refused.
struct file_write_request {
  std::string container;
  std::string path;
  uint64_t offset = 0;
  std::vector<char> data;  ///< At most max_file_chunk.
  bool create = false;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  BERTH_FIELDS(file_write_request, container, path, offset, data, create, mode, uid, gid);
};

/// Argument of container.file.mkdir (path, mode, uid, gid, mtime_ns), container.file.symlink
/// (path, link, uid, gid, mtime_ns) and container.file.set_times (path, mtime_ns). An mtime_ns
/// of 0 leaves the times of a new directory or symlink as they come.
struct file_spec {
  std::string container;
  std::string path;
  uint32_t mode = 0755;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  std::string link;
  BERTH_FIELDS(file_spec, container, path, mode, uid, gid, mtime_ns, link);
};

}  // namespace berth::api
