// unpack.cpp: applying layers with libarchive, OCI whiteouts, and the checks that keep every layer
// entry inside the root.
//
// Each layer is read through two libarchive readers: the outer one decompresses the blob (gzip,
// zstd or none) as a raw stream, the inner one parses that stream as a tar. The inner reader pulls
// its bytes through a callback that also hashes them, so the diff_id is checked in the same pass.
//
// libarchive's archive_write_disk writes entries by absolute path (never relative to the process's
// working directory, which other threads share). Before any entry is written this file checks,
// with lstat on every parent component, that its path stays inside the root and crosses no
// symlink; SECURE_SYMLINKS and SECURE_NODOTDOT make libarchive check again. Paths are kept well
// below PATH_MAX because libarchive chdir()s (process-wide) for longer ones.
//
// Device nodes, setuid/setgid bits, foreign owners and file capabilities are materialised on the
// host, because mkfs.erofs reads them from this tree into the image's disk (the guest needs
// them). They are kept out of other users' reach instead: before anything is written,
// check_private requires a directory above the root that is berthd's own with mode 0700 (berthd
// unpacks into DATA/tmp/unpack-*, created 0700 under a 0700 DATA), and that no directory above
// that one can be renamed or replaced by another user. Xattrs come only from a short allow-list.
// Caps on bytes and entries (unpack_limits) stop a small compressed layer from filling the disk;
// the decompressor stops reading at the byte cap.
#include "berth/image/unpack.hpp"

#include "berth/image/digest.hpp"
#include "berth/image/log.hpp"
#include "util.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_set>

namespace berth::image {

namespace fs = std::filesystem;
using detail::invalid;
using detail::with_context;

namespace {

// Longest root + "/" + entry path written; PATH_MAX is 4096 and libarchive changes the working
// directory of the whole process for paths at or past it.
constexpr size_t max_path_bytes = 4000;

// Longest path component (NAME_MAX).
constexpr size_t max_component_bytes = 255;

constexpr size_t read_buffer_size = 1 << 20;

constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view whiteout_meta_prefix = ".wh..wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";

struct read_deleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct write_deleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
using reader_ptr = std::unique_ptr<struct archive, read_deleter>;
using writer_ptr = std::unique_ptr<struct archive, write_deleter>;

std::string archive_text(struct archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown error";
}

// Splits an entry name into components relative to the root: "", "." and leading "/" vanish
// (absolute names are relative to the root, as in Docker); ".." is refused.
caf::expected<std::vector<std::string>> split_name(std::string_view name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    auto end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto part = name.substr(start, end - start);
    if (part == "..") return invalid("path has a '..' component");
    if (part.size() > max_component_bytes)
      return invalid("path has a component longer than {} bytes", max_component_bytes);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out;
}

std::string child_of(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string{name} : parent + "/" + std::string{name};
}

// Which xattrs a layer may set, an allow-list: user.* (unprivileged by definition),
// security.capability (file capabilities, which images such as ping's need; they take effect in
// the guest only, and the tree holding them is private to berthd) and POSIX ACLs. Everything
// else is dropped: trusted.* (trusted.overlay.* would steer the guest's overlay mount, and the
// rest is privileged kernel metadata no image needs), security.selinux/ima/evm (labels and
// signatures of the host's policy, not the image's) and unknown namespaces.
bool allowed_xattr(std::string_view name) {
  return name.rfind("user.", 0) == 0 || name == "security.capability" ||
         name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

// The caps one layer is applied under, and how an error names each.
struct layer_caps {
  uint64_t bytes = unpack_limits{}.max_layer_bytes;
  uint64_t entries = unpack_limits{}.max_layer_entries;
  std::string bytes_name = "max_layer_bytes";
  std::string entries_name = "max_layer_entries";

  caf::error too_big() const {
    return invalid("the layer holds more than {} bytes uncompressed (the limit {})", bytes,
                   bytes_name);
  }
  caf::error too_many() const {
    return invalid("the layer holds more than {} entries (the limit {})", entries, entries_name);
  }
};

// The state of one layer being applied to one root.
class layer_applier {
 public:
  layer_applier(std::string root, std::string label, layer_caps caps)
      : root_(std::move(root)), label_(std::move(label)), caps_(std::move(caps)) {}

  caf::expected<unpack_stats> run(const fs::path& blob, std::string_view diff_id);

 private:
  enum class parent_state { exists, missing };

  std::string full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  caf::error entry_error(std::string_view name, const caf::error& err) const {
    return with_context(err, fmt::format("entry '{}'", name.substr(0, 512)));
  }

  caf::expected<parent_state> check_parents(const std::vector<std::string>& parts, size_t count,
                                            bool for_write);
  caf::expected<void> remove_path(const std::string& rel);
  caf::expected<void> apply_entry(struct archive_entry* e);
  caf::expected<void> whiteout(const std::vector<std::string>& parts);
  caf::expected<void> opaque(const std::vector<std::string>& parts);
  caf::expected<void> clear_lower(const std::string& dir_rel);
  caf::expected<void> write_entry(struct archive_entry* e, const std::string& path);
  void record_written(const std::vector<std::string>& parts);

  std::string root_;
  std::string label_;
  layer_caps caps_;
  struct archive* in_ = nullptr;
  struct archive* disk_ = nullptr;
  // Paths this layer wrote, and their ancestors: what an opaque marker or whiteout keeps.
  std::unordered_set<std::string> written_;
  // Paths checked to be real directories (not symlinks); emptied whenever anything is removed.
  std::unordered_set<std::string> known_dirs_;
  unpack_stats stats_;
};

// Checks the first `count` components of `parts` as parent directories. A symlink fails; a
// missing one means nothing below exists. For a write, a non-directory in the way is removed (a
// directory in an upper layer hides it, as in overlayfs).
caf::expected<layer_applier::parent_state> layer_applier::check_parents(
    const std::vector<std::string>& parts, size_t count, bool for_write) {
  std::string rel;
  for (size_t i = 0; i < count; ++i) {
    rel = child_of(rel, parts[i]);
    if (known_dirs_.count(rel) > 0) continue;
    struct stat st {};
    if (::lstat(full(rel).c_str(), &st) != 0) {
      if (errno == ENOENT) return parent_state::missing;
      return detail::io_error("cannot stat", full(rel), errno);
    }
    if (S_ISLNK(st.st_mode)) return invalid("its parent path '{}' is a symlink", rel);
    if (S_ISDIR(st.st_mode)) {
      known_dirs_.insert(rel);
      continue;
    }
    if (!for_write) return parent_state::missing;
    if (::unlink(full(rel).c_str()) != 0)
      return detail::io_error("cannot remove", full(rel), errno);
    return parent_state::missing;
  }
  return parent_state::exists;
}

// Removes the object at `rel` (a whole tree for a directory) without following symlinks.
caf::expected<void> layer_applier::remove_path(const std::string& rel) {
  auto path = full(rel);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return detail::io_error("cannot stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    // remove_all never follows symlinks inside the tree; the path itself was checked above.
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return detail::io_error("cannot remove", path, ec.value());
    known_dirs_.clear();
    return {};
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return detail::io_error("cannot remove", path, errno);
  return {};
}

void layer_applier::record_written(const std::vector<std::string>& parts) {
  std::string rel;
  for (const auto& part : parts) {
    rel = child_of(rel, part);
    written_.insert(rel);
  }
}

// `.wh.NAME`: deletes NAME unless this same layer put it there.
caf::expected<void> layer_applier::whiteout(const std::vector<std::string>& parts) {
  auto state = check_parents(parts, parts.size() - 1, false);
  if (!state) return state.error();
  if (*state == parent_state::missing) return {};
  auto rel = join(parts, parts.size());
  if (written_.count(rel) > 0) return {};
  return remove_path(rel);
}

// `.wh..wh..opq` in DIR: deletes everything under DIR that this layer did not write.
caf::expected<void> layer_applier::opaque(const std::vector<std::string>& parts) {
  // The directory itself must be a real directory too.
  auto state = check_parents(parts, parts.size(), false);
  if (!state) return state.error();
  if (*state == parent_state::missing) return {};
  auto ok = clear_lower(join(parts, parts.size()));
  known_dirs_.clear();
  return ok;
}

caf::expected<void> layer_applier::clear_lower(const std::string& dir_rel) {
  std::vector<std::pair<std::string, bool>> children;
  std::error_code ec;
  auto dir = full(dir_rel);
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec)) {
    std::error_code type_ec;
    bool is_dir = i->symlink_status(type_ec).type() == fs::file_type::directory;
    children.emplace_back(i->path().filename().string(), is_dir);
  }
  if (ec) return detail::io_error("cannot list", dir, ec.value());
  for (const auto& [name, is_dir] : children) {
    auto rel = child_of(dir_rel, name);
    if (written_.count(rel) == 0) {
      if (auto ok = remove_path(rel); !ok) return ok;
    } else if (is_dir) {
      if (auto ok = clear_lower(rel); !ok) return ok;
    }
  }
  return {};
}

caf::expected<void> layer_applier::write_entry(struct archive_entry* e, const std::string& path) {
  archive_entry_set_pathname(e, path.c_str());
  if (archive_entry_xattr_count(e) > 0) {
    std::vector<std::tuple<std::string, std::string>> keep;
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      if (allowed_xattr(name))
        keep.emplace_back(name, std::string{static_cast<const char*>(value), size});
      else
        image_log.debug("{}: dropping xattr {} of {}", label_, name, path);
    }
    archive_entry_xattr_clear(e);
    for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
  }
  auto r = archive_write_header(disk_, e);
  if (r == ARCHIVE_WARN) {
    image_log.warn("{}: {}: {}", label_, path, archive_text(disk_));
  } else if (r != ARCHIVE_OK) {
    return make_error(errc::io, fmt::format("cannot write: {}", archive_text(disk_)));
  }
  if (archive_entry_size(e) > 0) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      auto rr = archive_read_data_block(in_, &buf, &size, &offset);
      if (rr == ARCHIVE_EOF) break;
      if (rr < ARCHIVE_WARN) return invalid("cannot read its data: {}", archive_text(in_));
      if (archive_write_data_block(disk_, buf, size, offset) < ARCHIVE_WARN)
        return make_error(errc::io, fmt::format("cannot write: {}", archive_text(disk_)));
    }
  }
  r = archive_write_finish_entry(disk_);
  if (r == ARCHIVE_WARN)
    image_log.warn("{}: {}: {}", label_, path, archive_text(disk_));
  else if (r != ARCHIVE_OK)
    return make_error(errc::io, fmt::format("cannot write: {}", archive_text(disk_)));
  return {};
}

caf::expected<void> layer_applier::apply_entry(struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return invalid("an entry has no name (or one that cannot be read)");
  // A copy: write_entry renames the entry, which frees the text `raw` points to, and a failed
  // write still names the entry in its error.
  const std::string name{raw};
  auto parts = split_name(name);
  if (!parts) return entry_error(name, parts.error());
  auto rel = join(*parts, parts->size());
  if (root_.size() + 1 + rel.size() >= max_path_bytes)
    return entry_error(name,
                       invalid("path is longer than {} bytes", max_path_bytes - root_.size()));
  bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
  // The root itself: only its metadata can change.
  if (parts->empty()) {
    if (!is_dir || archive_entry_hardlink(e) != nullptr)
      return entry_error(name, invalid("it would replace the root directory"));
    if (auto ok = write_entry(e, root_); !ok) return entry_error(name, ok.error());
    return {};
  }
  const auto& base = parts->back();
  if (base.rfind(whiteout_prefix, 0) == 0) {
    ++stats_.whiteouts;
    caf::expected<void> ok{};
    if (base == opaque_marker) {
      parts->pop_back();
      ok = opaque(*parts);
    } else if (base.rfind(whiteout_meta_prefix, 0) == 0) {
      // Other .wh..wh. names are aufs bookkeeping; Docker ignores them too.
    } else {
      auto target = base.substr(whiteout_prefix.size());
      if (target.empty() || target == "." || target == "..")
        return entry_error(name, invalid("whiteout names no file"));
      parts->back() = target;
      ok = whiteout(*parts);
    }
    if (!ok) return entry_error(name, ok.error());
    return {};
  }
  // Sparse files declare sizes their bytes in the stream do not pay for: count what they claim.
  if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size_is_set(e) &&
      archive_entry_size(e) > 0) {
    stats_.file_bytes += static_cast<uint64_t>(archive_entry_size(e));
    if (stats_.file_bytes > caps_.bytes) return caps_.too_big();
  }
  auto parents = check_parents(*parts, parts->size() - 1, true);
  if (!parents) return entry_error(name, parents.error());
  std::string link_path;
  if (const char* link = archive_entry_hardlink(e); link != nullptr) {
    auto target = split_name(link);
    if (!target) return entry_error(name, with_context(target.error(), "hard link target"));
    auto target_rel = join(*target, target->size());
    if (target_rel.empty()) return entry_error(name, invalid("hard link to the root directory"));
    if (target_rel == rel) return {};  // A link to itself changes nothing.
    auto state = check_parents(*target, target->size() - 1, false);
    if (!state) return entry_error(name, with_context(state.error(), "hard link target"));
    struct stat st {};
    if (*state == parent_state::missing || ::lstat(full(target_rel).c_str(), &st) != 0)
      return entry_error(name, invalid("hard link target '{}' does not exist", target_rel));
    if (S_ISDIR(st.st_mode))
      return entry_error(name, invalid("hard link target '{}' is a directory", target_rel));
    link_path = full(target_rel);
    archive_entry_set_hardlink(e, link_path.c_str());
  }
  // What is there already goes, unless a directory meets a directory (then they merge).
  if (*parents == parent_state::exists) {
    struct stat st {};
    if (::lstat(full(rel).c_str(), &st) == 0) {
      if (!(S_ISDIR(st.st_mode) && is_dir && link_path.empty())) {
        if (auto ok = remove_path(rel); !ok) return entry_error(name, ok.error());
      }
    } else if (errno != ENOENT) {
      return entry_error(name, detail::io_error("cannot stat", full(rel), errno));
    }
  }
  if (auto ok = write_entry(e, full(rel)); !ok) return entry_error(name, ok.error());
  record_written(*parts);
  if (is_dir) known_dirs_.insert(rel);
  return {};
}

// Decompresses and hashes the layer on a thread of its own, a few chunks ahead of the tar reader
// and the disk writer, so that the two halves of the work use two cores.
class decompressor {
 public:
  decompressor(struct archive* outer, uint64_t max_bytes) : outer_(outer), max_bytes_(max_bytes) {
    thread_ = std::thread{[this] { run(); }};
  }

  ~decompressor() {
    {
      std::lock_guard<std::mutex> guard{m_};
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  decompressor(const decompressor&) = delete;
  decompressor& operator=(const decompressor&) = delete;

  // The next chunk into `out` (empty at the end); false on a decompression error.
  bool next(std::string& out) {
    std::unique_lock<std::mutex> lock{m_};
    cv_.wait(lock, [&] { return !queue_.empty() || done_; });
    if (!queue_.empty()) {
      out = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
      return true;
    }
    out.clear();
    return error_.empty();
  }

  // After next() gave the end: the digest and size of everything decompressed.
  std::string digest() { return hash_.finish(); }
  uint64_t bytes() const { return bytes_; }
  // Whether it stopped because the stream went past the byte cap.
  bool over_cap() {
    std::lock_guard<std::mutex> guard{m_};
    return over_cap_;
  }
  std::string error() {
    std::lock_guard<std::mutex> guard{m_};
    return error_;
  }

 private:
  // Chunks decompressed ahead of the reader.
  static constexpr size_t max_queued = 8;

  void run() {
    for (;;) {
      std::string buf(read_buffer_size, '\0');
      auto n = archive_read_data(outer_, buf.data(), buf.size());
      if (n <= 0) {
        std::lock_guard<std::mutex> guard{m_};
        if (n < 0) error_ = archive_text(outer_);
        done_ = true;
        cv_.notify_all();
        return;
      }
      buf.resize(static_cast<size_t>(n));
      hash_.update(buf.data(), buf.size());
      bytes_ += static_cast<uint64_t>(n);
      if (bytes_ > max_bytes_) {
        std::lock_guard<std::mutex> guard{m_};
        over_cap_ = true;
        error_ = "the layer is over its size limit";
        done_ = true;
        cv_.notify_all();
        return;
      }
      std::unique_lock<std::mutex> lock{m_};
      cv_.wait(lock, [&] { return queue_.size() < max_queued || stop_; });
      if (stop_) {
        done_ = true;
        return;
      }
      queue_.push_back(std::move(buf));
      cv_.notify_all();
    }
  }

  struct archive* outer_;
  uint64_t max_bytes_;
  image::sha256 hash_;
  uint64_t bytes_ = 0;
  bool over_cap_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool done_ = false;
  bool stop_ = false;
  std::string error_;
  std::thread thread_;
};

// The inner tar reader's view of the decompressed stream.
struct hashing_stream {
  decompressor* source = nullptr;
  std::string current;  // stays valid until the next read, as libarchive needs
  std::string error;
};

la_ssize_t hashing_read(struct archive* inner, void* client, const void** out) {
  auto* s = static_cast<hashing_stream*>(client);
  if (!s->source->next(s->current)) {
    s->error = s->source->error();
    archive_set_error(inner, EIO, "%s", s->error.c_str());
    return -1;
  }
  *out = s->current.data();
  return static_cast<la_ssize_t>(s->current.size());
}

caf::expected<unpack_stats> layer_applier::run(const fs::path& blob, std::string_view diff_id) {
  // Opened here (O_NOFOLLOW, an errno to report); declared first, so it outlives the readers.
  detail::unique_fd fd{::open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd) return detail::io_error("cannot open", blob, errno);
  reader_ptr outer{archive_read_new()};
  reader_ptr inner{archive_read_new()};
  writer_ptr disk{archive_write_disk_new()};
  if (!outer || !inner || !disk) throw std::bad_alloc{};
  archive_read_support_filter_gzip(outer.get());
  archive_read_support_filter_zstd(outer.get());
  archive_read_support_format_raw(outer.get());
  if (archive_read_open_fd(outer.get(), fd.get(), read_buffer_size) != ARCHIVE_OK)
    return invalid("cannot decompress: {}", archive_text(outer.get()));
  struct archive_entry* raw_entry = nullptr;
  auto r = archive_read_next_header(outer.get(), &raw_entry);
  if (r == ARCHIVE_EOF) return invalid("the layer is empty");
  if (r < ARCHIVE_WARN) return invalid("cannot decompress: {}", archive_text(outer.get()));
  decompressor source{outer.get(), caps_.bytes};
  // Any failure once the stream went past the byte cap is that cap.
  auto failed = [&](caf::error err) { return source.over_cap() ? caps_.too_big() : err; };
  hashing_stream stream;
  stream.source = &source;
  archive_read_support_format_tar(inner.get());
  if (archive_read_open(inner.get(), &stream, nullptr, hashing_read, nullptr) != ARCHIVE_OK)
    return failed(invalid("not a tar archive: {}",
                          stream.error.empty() ? archive_text(inner.get()) : stream.error));
  archive_write_disk_set_options(
      disk.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                      ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_UNLINK |
                      ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  in_ = inner.get();
  disk_ = disk.get();
  bool first = true;
  for (;;) {
    struct archive_entry* e = nullptr;
    r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_WARN) {
      image_log.debug("{}: {}", label_, archive_text(inner.get()));
    } else if (r != ARCHIVE_OK) {
      auto text = stream.error.empty() ? archive_text(inner.get()) : stream.error;
      return failed(invalid(
          "{}: {}", first ? "not a tar archive" : "the layer is truncated or corrupt", text));
    }
    first = false;
    if (++stats_.entries > caps_.entries) return caps_.too_many();
    if (auto ok = apply_entry(e); !ok) return failed(ok.error());
  }
  // Directory modes and times are set last, by libarchive's fixup pass.
  if (archive_write_close(disk.get()) != ARCHIVE_OK)
    return make_error(errc::io, fmt::format("cannot finish: {}", archive_text(disk.get())));
  // The tar end marker may be followed by padding: the diff_id covers the whole stream.
  std::string rest;
  for (;;) {
    if (!source.next(rest))
      return failed(invalid("the layer is truncated or corrupt: {}", source.error()));
    if (rest.empty()) break;
  }
  stats_.bytes = source.bytes();
  if (!diff_id.empty()) {
    auto got = source.digest();
    if (got != diff_id)
      return invalid("diff_id mismatch: the config says {}, the layer is {}", diff_id, got);
  }
  return stats_;
}

// Checks that no other user can reach the resolved (symlink-free) `root`: some directory above
// it is owned by berthd's uid with no group or other permission bits, and every directory above
// that one is owned by root or berthd's uid and is writable by nobody else (or is sticky, like
// /tmp), so that no other user can rename or replace a directory on the way.
caf::expected<void> check_private(const std::string& root) {
  auto euid = ::geteuid();
  bool found_private = false;
  fs::path dir{root};
  do {
    dir = dir.parent_path();
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return detail::io_error("cannot stat", dir, errno);
    if (!found_private) {
      found_private = st.st_uid == euid && (st.st_mode & 077) == 0;
    } else if ((st.st_uid != 0 && st.st_uid != euid) ||
               ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)) {
      return make_error(errc::conflict,
                        fmt::format("refusing to unpack into {}: {} (owner {}, mode {:o}) can be "
                                    "changed by other users",
                                    root, dir.string(), st.st_uid, st.st_mode & 07777));
    }
  } while (dir != dir.root_path());
  if (!found_private)
    return make_error(errc::conflict,
                      fmt::format("refusing to unpack into {}: no directory above it is private to "
                                  "uid {} (mode 0700), so other users could reach the device "
                                  "nodes and setuid files of its layers",
                                  root, euid));
  return {};
}

caf::expected<std::string> resolve_root(const fs::path& rootfs) {
  char* resolved = ::realpath(rootfs.c_str(), nullptr);
  if (resolved == nullptr) {
    if (errno == ENOENT)
      return make_error(errc::not_found, fmt::format("{} does not exist", rootfs.string()));
    return detail::io_error("cannot resolve", rootfs, errno);
  }
  std::string root{resolved};
  std::free(resolved);
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return detail::io_error("cannot stat", root, errno);
  if (!S_ISDIR(st.st_mode)) return invalid("{} is not a directory", rootfs.string());
  if (root == "/") return invalid("refusing to unpack layers into /");
  if (root.size() + 2 >= max_path_bytes) return invalid("{} is too long a path", rootfs.string());
  if (auto ok = check_private(root); !ok) return ok.error();
  return root;
}

// Removes everything inside `root` (not following symlinks), keeping the directory.
void empty_dir(const std::string& root) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator i{root, ec}, end; !ec && i != end; i.increment(ec))
    children.push_back(i->path());
  for (const auto& child : children) fs::remove_all(child, ec);
}

}  // namespace

namespace {

caf::expected<unpack_stats> apply_with_caps(const fs::path& blob, std::string_view type,
                                            const std::string& root, std::string_view diff_id,
                                            layer_caps caps) {
  if (auto c = layer_compression(type); !c) return c.error();
  if (!diff_id.empty())
    if (auto ok = check_digest(diff_id); !ok) return with_context(ok.error(), "diff_id");
  layer_applier applier{root, blob.filename().string(), std::move(caps)};
  return applier.run(blob, diff_id);
}

}  // namespace

caf::expected<unpack_stats> apply_layer(const fs::path& blob, std::string_view type,
                                        const fs::path& rootfs, std::string_view diff_id,
                                        const unpack_limits& limits) {
  auto root = resolve_root(rootfs);
  if (!root) return root.error();
  layer_caps caps;
  caps.bytes = limits.max_layer_bytes;
  caps.entries = limits.max_layer_entries;
  return apply_with_caps(blob, type, *root, diff_id, std::move(caps));
}

caf::expected<unpack_stats> unpack_layers(const content_store& store,
                                          const std::vector<descriptor>& layers,
                                          const fs::path& rootfs,
                                          const std::vector<std::string>& diff_ids,
                                          const unpack_limits& limits) {
  if (!diff_ids.empty() && diff_ids.size() != layers.size())
    return invalid("{} layers but {} diff_ids", layers.size(), diff_ids.size());
  auto root = resolve_root(rootfs);
  if (!root) return root.error();
  std::error_code ec;
  if (!fs::is_empty(*root, ec) || ec) {
    if (ec) return detail::io_error("cannot list", *root, ec.value());
    return invalid("{} is not empty", rootfs.string());
  }
  if (::chmod(root->c_str(), 0755) != 0) return detail::io_error("cannot chmod", *root, errno);
  if (::chown(root->c_str(), 0, 0) != 0 && errno != EPERM)
    return detail::io_error("cannot chown", *root, errno);
  unpack_stats total;
  // What is left of the image's caps bounds each layer's, and names the image's limit when it
  // is the tighter one.
  auto layer_caps_at = [&] {
    layer_caps caps;
    auto bytes_left = limits.max_image_bytes -
                      std::min(limits.max_image_bytes, std::max(total.bytes, total.file_bytes));
    auto entries_left =
        limits.max_image_entries - std::min(limits.max_image_entries, total.entries);
    caps.bytes = std::min(limits.max_layer_bytes, bytes_left);
    caps.entries = std::min(limits.max_layer_entries, entries_left);
    if (bytes_left < limits.max_layer_bytes)
      caps.bytes_name =
          fmt::format("max_image_bytes of {} for the whole image", limits.max_image_bytes);
    if (entries_left < limits.max_layer_entries)
      caps.entries_name =
          fmt::format("max_image_entries of {} for the whole image", limits.max_image_entries);
    return caps;
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& layer = layers[i];
    auto where = fmt::format("layer {} ({})", i, layer.digest);
    auto path = store.path_of(layer.digest);
    caf::expected<unpack_stats> stats = path ? caf::expected<unpack_stats>{unpack_stats{}}
                                             : caf::expected<unpack_stats>{path.error()};
    if (path)
      stats = apply_with_caps(*path, layer.media_type, *root,
                              diff_ids.empty() ? std::string_view{} : std::string_view{diff_ids[i]},
                              layer_caps_at());
    if (!stats) {
      // Nothing half-written stays: the root was empty before the first layer.
      empty_dir(*root);
      return with_context(stats.error(), where);
    }
    total.entries += stats->entries;
    total.bytes += stats->bytes;
    total.file_bytes += stats->file_bytes;
    total.whiteouts += stats->whiteouts;
  }
  return total;
}

}  // namespace berth::image
