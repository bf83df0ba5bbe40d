// layout.cpp: OCI image layout import from a directory or a streamed OCI archive.
#include "berth/image/layout.hpp"

#include "berth/image/log.hpp"
#include "berth/image/manifest.hpp"
#include "util.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <exception>
#include <memory>
#include <optional>

namespace berth::image {

namespace fs = std::filesystem;
using detail::invalid;
using detail::with_context;

namespace {

// Largest oci-layout file accepted ({"imageLayoutVersion":"1.0.0"} is 30 bytes).
constexpr uint64_t max_oci_layout_bytes = 4096;

constexpr size_t archive_buffer_size = 1 << 20;

caf::expected<void> check_oci_layout(std::string_view text) {
  auto j = detail::parse_json(text, max_oci_layout_bytes, "oci-layout");
  if (!j) return j.error();
  if (!j->is_object()) return invalid("oci-layout is not a JSON object");
  auto version = j->find("imageLayoutVersion");
  if (version == j->end() || !version->is_string())
    return invalid("oci-layout has no imageLayoutVersion");
  auto v = version->get<std::string>();
  if (v.rfind("1.", 0) != 0)
    return make_error(errc::unsupported,
                      fmt::format("unsupported OCI layout version '{}'", v.substr(0, 32)));
  return {};
}

std::string name_of(const std::map<std::string, std::string>& annotations) {
  for (auto key : {annotation_image_name, annotation_ref_name})
    if (auto i = annotations.find(std::string{key}); i != annotations.end() && !i->second.empty())
      return i->second;
  return {};
}

// Resolves every entry of index.json once its blobs can be fetched.
caf::expected<std::vector<loaded_image>> load_index(const content_store& store, blob_source& source,
                                                    std::string_view oci_layout,
                                                    std::string_view index_json,
                                                    const platform& want) {
  if (auto ok = check_oci_layout(oci_layout); !ok) return ok.error();
  if (index_json.size() > max_index_json_bytes)
    return invalid("index.json is {} bytes, more than the limit of {}", index_json.size(),
                   max_index_json_bytes);
  auto index = parse_index(index_json, {});
  if (!index) return with_context(index.error(), "index.json");
  if (index->manifests.empty()) return invalid("index.json lists no images");
  std::vector<loaded_image> out;
  out.reserve(index->manifests.size());
  for (size_t i = 0; i < index->manifests.size(); ++i) {
    const auto& entry = index->manifests[i];
    loaded_image img;
    img.name = name_of(entry.annotations);
    img.annotations = entry.annotations;
    auto resolved = resolve_image(store, source, entry, want);
    if (!resolved) {
      auto where = img.name.empty() ? fmt::format("index.json entry {}", i)
                                    : fmt::format("index.json entry {} ({})", i, img.name);
      return with_context(resolved.error(), where);
    }
    img.image = std::move(*resolved);
    out.push_back(std::move(img));
  }
  return out;
}

// -- directories ----------------------------------------------------------------------------------

class dir_source : public blob_source {
 public:
  dir_source(const content_store& store, fs::path dir) : store_(store), dir_(std::move(dir)) {}

  caf::expected<void> fetch(const descriptor& d, std::string_view) override {
    auto path = dir_ / "blobs" / "sha256" / std::string{digest_hex(d.digest)};
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT)
        return make_error(errc::not_found,
                          fmt::format("missing from the layout ({})", path.string()));
      return detail::io_error("cannot stat", path, errno);
    }
    if (!S_ISREG(st.st_mode)) return invalid("{} is not a regular file", path.string());
    if (static_cast<uint64_t>(st.st_size) != d.size)
      return invalid("size mismatch: the descriptor says {} bytes, the layout's file has {}",
                     d.size, st.st_size);
    // A blob already in the store was verified when it was stored.
    if (store_.contains(d.digest)) return {};
    return store_.ingest_file(path, d.digest, d.size);
  }

 private:
  const content_store& store_;
  fs::path dir_;
};

// -- archives -------------------------------------------------------------------------------------

// Blobs that arrived in the archive, already ingested and verified.
class archive_source : public blob_source {
 public:
  explicit archive_source(std::map<std::string, uint64_t> seen) : seen_(std::move(seen)) {}

  caf::expected<void> fetch(const descriptor& d, std::string_view) override {
    auto i = seen_.find(d.digest);
    if (i == seen_.end()) return make_error(errc::not_found, "missing from the archive");
    if (i->second != d.size)
      return invalid("size mismatch: the descriptor says {} bytes, the archive has {}", d.size,
                     i->second);
    return {};
  }

 private:
  std::map<std::string, uint64_t> seen_;
};

// What libarchive's read callback needs, and the error it hit, kept apart from libarchive's own.
struct stream_context {
  archive_reader read;
  std::optional<caf::error> failure;
  bool ended = false;
};

// Most bytes read past the end of the tar to reach the end of the stream.
constexpr uint64_t max_trailing_bytes = 16 << 20;

la_ssize_t read_callback(struct archive* a, void* client, const void** buffer) {
  auto* ctx = static_cast<stream_context*>(client);
  // No exception may unwind through libarchive's C frames.
  caf::expected<std::string_view> chunk = std::string_view{};
  try {
    chunk = ctx->read();
  } catch (const std::exception& e) {
    chunk = make_error(errc::internal, fmt::format("the archive reader failed: {}", e.what()));
  }
  if (!chunk) {
    ctx->failure = chunk.error();
    archive_set_error(a, EIO, "%s", describe(chunk.error()).c_str());
    return -1;
  }
  if (chunk->empty()) ctx->ended = true;
  *buffer = chunk->data();
  return static_cast<la_ssize_t>(chunk->size());
}

// The error of the stream reader if it failed, else `err`.
caf::error fail_or(const caf::error& err, const stream_context& ctx) {
  return ctx.failure ? *ctx.failure : err;
}

struct archive_deleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using archive_ptr = std::unique_ptr<struct archive, archive_deleter>;

std::string_view strip_dot_slash(std::string_view name) {
  while (name.substr(0, 2) == "./") name.remove_prefix(2);
  return name;
}

struct archive_contents {
  std::map<std::string, uint64_t> seen;
  std::optional<std::string> index_json;
  std::optional<std::string> oci_layout;
};

// Reads the data of the current entry into memory, at most `max` bytes.
caf::expected<std::string> read_entry_small(struct archive* a, struct archive_entry* e,
                                            std::string_view name, uint64_t max) {
  if (archive_entry_filetype(e) != AE_IFREG)
    return invalid("archive entry {} is not a regular file", name);
  if (archive_entry_size(e) < 0 || static_cast<uint64_t>(archive_entry_size(e)) > max)
    return invalid("archive entry {} is {} bytes, more than the limit of {}", name,
                   archive_entry_size(e), max);
  std::string text;
  char buf[64 * 1024];
  for (;;) {
    auto n = archive_read_data(a, buf, sizeof(buf));
    if (n < 0) return invalid("cannot read archive entry {}: {}", name, archive_error_string(a));
    if (n == 0) break;
    if (text.size() + static_cast<uint64_t>(n) > max)
      return invalid("archive entry {} is larger than the limit of {} bytes", name, max);
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

// Streams a blob entry into the store, verified against the digest in its name.
caf::expected<void> ingest_entry(const content_store& store, struct archive* a,
                                 struct archive_entry* e, std::string_view name,
                                 std::string_view digest, std::string& buffer) {
  if (archive_entry_filetype(e) != AE_IFREG)
    return invalid("archive entry {} is not a regular file", name);
  if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
    return invalid("archive entry {} has no size", name);
  auto size = static_cast<uint64_t>(archive_entry_size(e));
  auto w = store.begin(digest, size);
  if (!w) return w.error();
  for (;;) {
    auto n = archive_read_data(a, buffer.data(), buffer.size());
    if (n < 0) return invalid("cannot read archive entry {}: {}", name, archive_error_string(a));
    if (n == 0) break;
    if (auto ok = w->write(buffer.data(), static_cast<size_t>(n)); !ok) return ok.error();
  }
  return w->commit();
}

caf::expected<archive_contents> read_archive(const content_store& store, stream_context& ctx) {
  archive_ptr a{archive_read_new()};
  if (!a) throw std::bad_alloc{};
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  // Errors that our own read callback reported win over libarchive's rendering of them.
  auto fail = [&](std::string_view what) -> caf::error {
    if (ctx.failure) return *ctx.failure;
    return invalid("{}: {}", what,
                   archive_error_string(a.get()) ? archive_error_string(a.get()) : "unknown error");
  };
  if (archive_read_open(a.get(), &ctx, nullptr, read_callback, nullptr) != ARCHIVE_OK)
    return fail("not a tar archive");
  archive_contents out;
  std::string buffer(archive_buffer_size, '\0');
  bool first = true;
  for (;;) {
    struct archive_entry* e = nullptr;
    auto r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_WARN) {
      image_log.debug("archive: {}", archive_error_string(a.get()));
    } else if (r != ARCHIVE_OK) {
      return fail(first ? "not a tar archive" : "archive is truncated or corrupt");
    }
    first = false;
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) return invalid("archive has an entry without a name");
    auto name = strip_dot_slash(raw);
    constexpr std::string_view blob_prefix = "blobs/sha256/";
    if (name == "index.json" || name == "oci-layout") {
      auto& slot = name == "index.json" ? out.index_json : out.oci_layout;
      if (slot) return invalid("archive has more than one {}", name);
      auto text = read_entry_small(
          a.get(), e, name, name == "index.json" ? max_index_json_bytes : max_oci_layout_bytes);
      if (!text) return fail_or(text.error(), ctx);
      slot = std::move(*text);
    } else if (name.substr(0, blob_prefix.size()) == blob_prefix &&
               name.size() > blob_prefix.size() && archive_entry_filetype(e) != AE_IFDIR) {
      auto digest = "sha256:" + std::string{name.substr(blob_prefix.size())};
      if (!is_digest(digest))
        return invalid("archive entry {} is not named by a sha256 digest", name.substr(0, 200));
      auto ok = ingest_entry(store, a.get(), e, name, digest, buffer);
      if (!ok) return with_context(fail_or(ok.error(), ctx), fmt::format("archive entry {}", name));
      out.seen[digest] = static_cast<uint64_t>(archive_entry_size(e));
    }
    // Anything else (directories, Docker's manifest.json and layer folders) is not ours.
  }
  // libarchive stops at the tar's end marker; take the rest of the stream (padding), so whoever
  // feeds it sees everything consumed.
  for (uint64_t trailing = 0; !ctx.ended && trailing < max_trailing_bytes;) {
    auto chunk = ctx.read();
    if (!chunk) return chunk.error();
    if (chunk->empty()) break;
    trailing += chunk->size();
  }
  if (!out.oci_layout)
    return invalid(
        "not an OCI archive: it has no oci-layout file (archives from `docker save` "
        "before Docker 25 are not OCI archives)");
  if (!out.index_json) return invalid("not an OCI archive: it has no index.json");
  return out;
}

}  // namespace

caf::expected<std::vector<loaded_image>> load_layout_dir(content_store& store, const fs::path& dir,
                                                         const platform& want) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return make_error(errc::not_found, fmt::format("{} does not exist", dir.string()));
    return detail::io_error("cannot stat", dir, errno);
  }
  if (!S_ISDIR(st.st_mode)) return invalid("{} is not a directory", dir.string());
  auto not_layout = [&](const caf::error& err, std::string_view file) -> caf::error {
    if (code_of(err) == errc::not_found)
      return invalid("{} is not an OCI image layout: it has no {}", dir.string(), file);
    return err;
  };
  auto oci_layout =
      detail::read_file_limited(dir / "oci-layout", max_oci_layout_bytes, "oci-layout");
  if (!oci_layout) return not_layout(oci_layout.error(), "oci-layout");
  auto index_json =
      detail::read_file_limited(dir / "index.json", max_index_json_bytes, "index.json");
  if (!index_json) return not_layout(index_json.error(), "index.json");
  dir_source source{store, dir};
  return load_index(store, source, *oci_layout, *index_json, want);
}

caf::expected<std::vector<loaded_image>> load_layout_archive_stream(content_store& store,
                                                                    archive_reader read,
                                                                    const platform& want) {
  stream_context ctx{std::move(read), std::nullopt};
  auto contents = read_archive(store, ctx);
  if (!contents) return contents.error();
  archive_source source{std::move(contents->seen)};
  return load_index(store, source, *contents->oci_layout, *contents->index_json, want);
}

caf::expected<std::vector<loaded_image>> load_layout_archive_fd(content_store& store, int fd,
                                                                const platform& want) {
  std::string buffer(archive_buffer_size, '\0');
  auto read = [fd, &buffer]() -> caf::expected<std::string_view> {
    auto n = detail::read_some(fd, buffer.data(), buffer.size());
    if (n < 0)
      return make_error(errc::io,
                        fmt::format("cannot read the archive: {}", detail::error_text(errno)));
    return std::string_view{buffer.data(), static_cast<size_t>(n)};
  };
  return load_layout_archive_stream(store, read, want);
}

caf::expected<std::vector<loaded_image>> load_layout_archive(content_store& store,
                                                             const fs::path& file,
                                                             const platform& want) {
  detail::unique_fd fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) {
    if (errno == ENOENT)
      return make_error(errc::not_found, fmt::format("{} does not exist", file.string()));
    return detail::io_error("cannot open", file, errno);
  }
  auto result = load_layout_archive_fd(store, fd.get(), want);
  if (!result) return with_context(result.error(), file.string());
  return result;
}

}  // namespace berth::image
