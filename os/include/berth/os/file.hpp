// file: durable file writes (temporary name, fsync, rename, fsync of the directory) and bounded
// reads. Every file berth writes for durability goes through write_file_atomic.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace berth::os {

/// Writes `data` to `path` durably: a temporary file in the same directory, fsync, rename, fsync
/// of the directory. A crash leaves the old file or the new one, never a mix. Throws
/// std::system_error.
void write_file_atomic(const std::filesystem::path& path, std::string_view data,
                       mode_t mode = 0644);

/// fsyncs a directory, so a rename or create in it is durable. Throws std::system_error.
void fsync_dir(const std::filesystem::path& dir);

/// Reads a whole file of at most `max_bytes`; throws std::system_error (EFBIG when larger).
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes = 16u << 20);

/// Reads the last `max_bytes` of a file (all of a smaller one) without reading the rest; throws
/// std::system_error.
std::string read_tail(const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace berth::os
