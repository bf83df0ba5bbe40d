// data_root.cpp: creating berthd's roots and narrowing modes left wider by older versions.
#include "berth/supervisor/data_root.hpp"

#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace berth {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger roots_log("berthd");

caf::error io_failure(const std::string& what, const fs::path& path, int err) {
  return make_error(errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

// Clears the bits of `path`'s mode outside `allowed` (never widens it), without following a
// symlink. What is neither a directory nor a regular file is left alone.
caf::expected<void> narrow(const fs::path& path, mode_t allowed) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return io_failure("cannot stat", path, errno);
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return {};
  mode_t mode = st.st_mode & 07777;
  if ((mode & ~allowed) == 0) return {};
  if (::chmod(path.c_str(), mode & allowed) != 0) return io_failure("cannot chmod", path, errno);
  roots_log.info("narrowed the mode of {} from {:o} to {:o}", path.string(), mode, mode & allowed);
  return {};
}

// The root itself: created if missing, a real directory, owned by berthd's uid, then narrowed.
caf::expected<void> secure_root(const fs::path& root, mode_t allowed) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return make_error(errc::io, "cannot create " + root.string() + ": " + ec.message());
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) return io_failure("cannot stat", root, errno);
  if (!S_ISDIR(st.st_mode))
    return make_error(errc::conflict, root.string() + " is not a directory (or is a symlink)");
  if (st.st_uid != ::geteuid())
    return make_error(errc::conflict, root.string() + " is owned by uid " +
                                          std::to_string(st.st_uid) + ", not berthd's (" +
                                          std::to_string(::geteuid()) + ")");
  return narrow(root, allowed);
}

// Each directory directly in `root` to `dir_mode`, each regular file to `file_mode`.
caf::expected<void> narrow_children(const fs::path& root, mode_t dir_mode, mode_t file_mode) {
  std::error_code ec;
  for (fs::directory_iterator i{root, ec}, end; !ec && i != end; i.increment(ec)) {
    auto type = i->symlink_status(ec).type();
    if (type == fs::file_type::directory) {
      if (auto ok = narrow(i->path(), dir_mode); !ok) return ok;
    } else if (type == fs::file_type::regular) {
      if (auto ok = narrow(i->path(), file_mode); !ok) return ok;
    }
  }
  if (ec) return make_error(errc::io, "cannot list " + root.string() + ": " + ec.message());
  return {};
}

}  // namespace

caf::expected<void> secure_roots(const fs::path& data_root, const fs::path& run_root) {
  if (auto ok = secure_root(data_root, 0700); !ok) return ok;
  for (auto sub : {"tmp", "cache"}) {
    std::error_code ec;
    fs::create_directories(data_root / sub, ec);
    if (ec)
      return make_error(errc::io,
                        "cannot create " + (data_root / sub).string() + ": " + ec.message());
  }
  if (auto ok = narrow_children(data_root, 0700, 0600); !ok) return ok;
  if (auto ok = secure_root(run_root, 0711); !ok) return ok;
  // The API socket is a socket: narrow_children leaves it to the listener.
  return narrow_children(run_root, 0700, 0600);
}

}  // namespace berth
