// content_store.cpp: verified blobs: ingest files, hashing, fsync and atomic rename.
#include "berth/image/content_store.hpp"

#include "util.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace berth::image {

namespace fs = std::filesystem;
using detail::invalid;
using detail::io_error;

namespace {

constexpr size_t copy_buffer_size = 256 * 1024;

// Moves `from` to `to` unless `to` exists; true if `to` existed (and `from` stays).
caf::expected<bool> rename_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0)
    return false;
  if (errno == EEXIST) return true;
  if (errno != EINVAL && errno != ENOSYS) return io_error("cannot rename into", to, errno);
  // A filesystem without RENAME_NOREPLACE: a blob of the same digest has the same bytes, so
  // replacing it is harmless.
  if (::rename(from.c_str(), to.c_str()) != 0) return io_error("cannot rename into", to, errno);
  return false;
}

}  // namespace

// -- ingest_writer --------------------------------------------------------------------------------

ingest_writer::ingest_writer(ingest_writer&& other) noexcept
    : fd_(other.fd_),
      active_(other.active_),
      ingest_path_(std::move(other.ingest_path_)),
      blob_path_(std::move(other.blob_path_)),
      blob_dir_(std::move(other.blob_dir_)),
      digest_(std::move(other.digest_)),
      expected_size_(other.expected_size_),
      written_(other.written_),
      hash_(std::move(other.hash_)) {
  other.fd_ = -1;
  other.active_ = false;
}

ingest_writer& ingest_writer::operator=(ingest_writer&& other) noexcept {
  if (this != &other) {
    abort();
    fd_ = other.fd_;
    active_ = other.active_;
    ingest_path_ = std::move(other.ingest_path_);
    blob_path_ = std::move(other.blob_path_);
    blob_dir_ = std::move(other.blob_dir_);
    digest_ = std::move(other.digest_);
    expected_size_ = other.expected_size_;
    written_ = other.written_;
    hash_ = std::move(other.hash_);
    other.fd_ = -1;
    other.active_ = false;
  }
  return *this;
}

ingest_writer::~ingest_writer() {
  abort();
}

void ingest_writer::abort() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(ingest_path_.c_str());
  }
  active_ = false;
}

caf::expected<void> ingest_writer::write(const void* data, size_t size) {
  if (!active_) return make_error(errc::internal, "write to a finished ingest");
  if (size > expected_size_ - written_) {
    auto text = fmt::format("size mismatch for {}: more than the expected {} bytes", digest_,
                            expected_size_);
    abort();
    return make_error(errc::invalid_argument, std::move(text));
  }
  hash_.update(data, size);
  written_ += size;
  if (fd_ >= 0) {
    if (int err = detail::write_all(fd_, data, size); err != 0) {
      auto e = io_error("cannot write", ingest_path_, err);
      abort();
      return e;
    }
  }
  return {};
}

caf::expected<void> ingest_writer::commit() {
  if (!active_) return make_error(errc::internal, "commit of a finished ingest");
  if (written_ != expected_size_) {
    auto text = fmt::format("size mismatch for {}: expected {} bytes, got {}", digest_,
                            expected_size_, written_);
    abort();
    return make_error(errc::invalid_argument, std::move(text));
  }
  auto got = hash_.finish();
  if (got != digest_) {
    auto text = fmt::format("digest mismatch: expected {}, got {}", digest_, got);
    abort();
    return make_error(errc::invalid_argument, std::move(text));
  }
  if (fd_ < 0) {
    // The blob was already stored; the bytes only needed checking.
    active_ = false;
    return {};
  }
  if (::fchmod(fd_, 0444) != 0 || ::fsync(fd_) != 0) {
    auto e = io_error("cannot sync", ingest_path_, errno);
    abort();
    return e;
  }
  ::close(fd_);
  fd_ = -1;
  active_ = false;
  auto existed = rename_noreplace(ingest_path_, blob_path_);
  if (!existed || *existed) ::unlink(ingest_path_.c_str());
  if (!existed) return existed.error();
  if (int err = detail::fsync_dir(blob_dir_); err != 0)
    return io_error("cannot sync", blob_dir_, err);
  return {};
}

// -- content_store --------------------------------------------------------------------------------

caf::expected<content_store> content_store::open(fs::path root) {
  std::error_code ec;
  for (auto dir : {root / "blobs" / "sha256", root / "ingest"}) {
    fs::create_directories(dir, ec);
    if (ec) return io_error("cannot create", dir, ec.value());
  }
  return content_store{std::move(root)};
}

fs::path content_store::blob_path(std::string_view digest) const {
  return root_ / "blobs" / "sha256" / std::string{digest_hex(digest)};
}

bool content_store::contains(std::string_view digest) const {
  if (!is_digest(digest)) return false;
  struct stat st {};
  return ::lstat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

caf::expected<fs::path> content_store::path_of(std::string_view digest) const {
  if (auto ok = check_digest(digest); !ok) return ok.error();
  if (!contains(digest))
    return make_error(errc::not_found, fmt::format("blob {} is not in the content store", digest));
  return blob_path(digest);
}

caf::expected<uint64_t> content_store::size_of(std::string_view digest) const {
  if (auto ok = check_digest(digest); !ok) return ok.error();
  struct stat st {};
  if (::lstat(blob_path(digest).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return make_error(errc::not_found, fmt::format("blob {} is not in the content store", digest));
  return static_cast<uint64_t>(st.st_size);
}

caf::expected<ingest_writer> content_store::begin(std::string_view digest, uint64_t size) const {
  if (auto ok = check_digest(digest); !ok) return ok.error();
  ingest_writer w;
  w.digest_ = std::string{digest};
  w.expected_size_ = size;
  w.blob_path_ = blob_path(digest);
  w.blob_dir_ = w.blob_path_.parent_path();
  w.active_ = true;
  if (contains(digest)) return w;
  auto pattern = (root_ / "ingest" / std::string{digest_hex(digest)}).string() + ".XXXXXX";
  int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) return io_error("cannot create ingest file", pattern, errno);
  w.fd_ = fd;
  w.ingest_path_ = pattern;
  return w;
}

caf::expected<void> content_store::ingest_file(const fs::path& source, std::string_view digest,
                                               uint64_t size) const {
  detail::unique_fd fd{::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!fd) {
    if (errno == ENOENT)
      return make_error(errc::not_found, fmt::format("{} does not exist", source.string()));
    return io_error("cannot open", source, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat", source, errno);
  if (!S_ISREG(st.st_mode)) return invalid("{} is not a regular file", source.string());
  if (static_cast<uint64_t>(st.st_size) != size)
    return invalid("size mismatch for {}: expected {} bytes, {} has {}", digest, size,
                   source.string(), st.st_size);
  auto w = begin(digest, size);
  if (!w) return w.error();
  std::string buf(copy_buffer_size, '\0');
  for (;;) {
    auto n = detail::read_some(fd.get(), buf.data(), buf.size());
    if (n < 0) return io_error("cannot read", source, errno);
    if (n == 0) break;
    if (auto ok = w->write(buf.data(), static_cast<size_t>(n)); !ok) return ok.error();
  }
  return w->commit();
}

caf::expected<void> content_store::ingest_bytes(std::string_view bytes,
                                                std::string_view digest) const {
  auto w = begin(digest, bytes.size());
  if (!w) return w.error();
  if (auto ok = w->write(bytes.data(), bytes.size()); !ok) return ok.error();
  return w->commit();
}

caf::expected<std::string> content_store::read_small(std::string_view digest,
                                                     uint64_t max_bytes) const {
  if (auto ok = check_digest(digest); !ok) return ok.error();
  auto text =
      detail::read_file_limited(blob_path(digest), max_bytes, fmt::format("blob {}", digest));
  if (!text) {
    if (code_of(text.error()) == errc::not_found)
      return make_error(errc::not_found,
                        fmt::format("blob {} is not in the content store", digest));
    return text.error();
  }
  if (sha256_of(*text) != digest)
    return make_error(
        errc::io, fmt::format("blob {} in the content store is corrupt (digest mismatch)", digest));
  return text;
}

caf::expected<void> content_store::remove(std::string_view digest) const {
  if (auto ok = check_digest(digest); !ok) return ok.error();
  auto path = blob_path(digest);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT)
      return make_error(errc::not_found,
                        fmt::format("blob {} is not in the content store", digest));
    return io_error("cannot remove", path, errno);
  }
  return {};
}

caf::expected<std::vector<std::string>> content_store::list() const {
  std::vector<std::string> out;
  std::error_code ec;
  auto dir = root_ / "blobs" / "sha256";
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec)) {
    auto digest = "sha256:" + i->path().filename().string();
    if (is_digest(digest)) out.push_back(std::move(digest));
  }
  if (ec) return io_error("cannot list", dir, ec.value());
  std::sort(out.begin(), out.end());
  return out;
}

caf::expected<size_t> content_store::remove_stale_ingests() const {
  size_t removed = 0;
  std::error_code ec;
  auto dir = root_ / "ingest";
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec)) {
    if (::unlink(i->path().c_str()) == 0)
      ++removed;
    else if (errno != ENOENT)
      return io_error("cannot remove", i->path(), errno);
  }
  if (ec) return io_error("cannot list", dir, ec.value());
  return removed;
}

}  // namespace berth::image
