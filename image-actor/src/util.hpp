// util: private helpers of the image library: errors with context, file descriptors, whole-file
// I/O and JSON parsing with limits.
#pragma once

#include "berth/actors/vocabulary.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"

#include <fmt/format.h>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace berth::image::detail {

/// An io error: "<what> <path>: <strerror(err)>".
caf::error io_error(std::string_view what, const std::filesystem::path& path, int err);

/// `err` with "<context>: " put before its text, same class.
caf::error with_context(const caf::error& err, std::string_view context);

/// The text of errno value `err`, thread-safe.
std::string error_text(int err);

/// Owns a file descriptor (the project's one, from actors/os.hpp).
using unique_fd = os::unique_fd;

/// Writes all of `data` to `fd`, retrying short writes; the errno on failure, else 0.
int write_all(int fd, const void* data, size_t size);

/// Reads up to `size` bytes, retrying EINTR; bytes read, or -1 with errno set.
ssize_t read_some(int fd, void* data, size_t size);

/// fsyncs the directory at `dir`; the errno on failure, else 0.
int fsync_dir(const std::filesystem::path& dir);

/// Reads the whole file at `path`: invalid_argument naming `what` if it is larger than
/// `max_bytes`, not_found if it does not exist, io otherwise.
caf::expected<std::string> read_file_limited(const std::filesystem::path& path, uint64_t max_bytes,
                                             std::string_view what);

/// Deepest JSON nesting accepted.
inline constexpr int max_json_depth = 64;

/// Parses `text` as JSON of at most `max_bytes` bytes and max_json_depth levels;
/// invalid_argument naming `what` otherwise.
caf::expected<nlohmann::json> parse_json(std::string_view text, uint64_t max_bytes,
                                         std::string_view what);

/// Makes an invalid_argument error with a formatted message.
template <class... Ts>
caf::error invalid(fmt::format_string<Ts...> f, Ts&&... xs) {
  return make_error(errc::invalid_argument, fmt::format(f, std::forward<Ts>(xs)...));
}

}  // namespace berth::image::detail
