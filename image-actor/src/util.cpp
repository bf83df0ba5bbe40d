// util.cpp: errors, descriptors, whole-file I/O and limited JSON parsing.
#include "util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace berth::image::detail {

std::string error_text(int err) {
  return std::generic_category().message(err);
}

caf::error io_error(std::string_view what, const std::filesystem::path& path, int err) {
  return make_error(errc::io, fmt::format("{} {}: {}", what, path.string(), error_text(err)));
}

caf::error with_context(const caf::error& err, std::string_view context) {
  return make_error(code_of(err), fmt::format("{}: {}", context, describe(err)));
}

int write_all(int fd, const void* data, size_t size) {
  auto p = static_cast<const char*>(data);
  while (size > 0) {
    auto n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

ssize_t read_some(int fd, void* data, size_t size) {
  for (;;) {
    auto n = ::read(fd, data, size);
    if (n >= 0 || errno != EINTR) return n;
  }
}

int fsync_dir(const std::filesystem::path& dir) {
  unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!fd) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return 0;
}

caf::expected<std::string> read_file_limited(const std::filesystem::path& path, uint64_t max_bytes,
                                             std::string_view what) {
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd) {
    if (errno == ENOENT) return make_error(errc::not_found, fmt::format("{} missing", what));
    return io_error(fmt::format("cannot open {}", what), path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return invalid("{} is not a regular file", what);
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return invalid("{} is {} bytes, more than the limit of {}", what, st.st_size, max_bytes);
  std::string text;
  text.reserve(static_cast<size_t>(st.st_size));
  char buf[64 * 1024];
  for (;;) {
    auto n = read_some(fd.get(), buf, sizeof(buf));
    if (n < 0) return io_error("cannot read", path, errno);
    if (n == 0) break;
    // The file may have grown since fstat.
    if (text.size() + static_cast<uint64_t>(n) > max_bytes)
      return invalid("{} is larger than the limit of {} bytes", what, max_bytes);
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

namespace {

struct too_deep {};

}  // namespace

caf::expected<nlohmann::json> parse_json(std::string_view text, uint64_t max_bytes,
                                         std::string_view what) {
  if (text.size() > max_bytes)
    return invalid("{} is {} bytes, more than the limit of {}", what, text.size(), max_bytes);
  // The callback sees every value with its depth; throwing stops the parser at the first value
  // nested too deeply, before any deep structure is built.
  auto limit = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_json_depth) throw too_deep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const too_deep&) {
    return invalid("{} is nested more than {} levels deep", what, max_json_depth);
  } catch (const nlohmann::json::exception& e) {
    return invalid("{} is not valid JSON: {}", what, e.what());
  }
}

}  // namespace berth::image::detail
