// save.cpp: writing OCI archives (image save) with libarchive, streamed from the content store.
#include "berth/image/layout.hpp"

#include "berth/image/manifest.hpp"
#include "berth/image/reference.hpp"
#include "json_fields.hpp"
#include "util.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <set>

namespace berth::image {

namespace fs = std::filesystem;
using detail::with_context;

namespace {

// 2024-01-01T00:00:00Z: the mtime of every entry, so the same images give the same archive.
constexpr time_t archive_mtime = 1704067200;

constexpr size_t write_buffer_size = 256 * 1024;

struct write_context {
  const archive_writer* write;
  std::optional<caf::error> failure;
};

la_ssize_t write_callback(struct archive*, void* client, const void* buf, size_t size) {
  auto* ctx = static_cast<write_context*>(client);
  try {
    if (auto ok = (*ctx->write)(std::string_view{static_cast<const char*>(buf), size}); !ok) {
      ctx->failure = ok.error();
      return -1;
    }
  } catch (const std::exception& e) {
    ctx->failure = make_error(errc::internal, fmt::format("archive writer failed: {}", e.what()));
    return -1;
  }
  return static_cast<la_ssize_t>(size);
}

struct archive_write_deleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

struct entry_deleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

class tar_writer {
 public:
  explicit tar_writer(const archive_writer& write) : a_(archive_write_new()) {
    ctx_.write = &write;
    if (!a_) throw std::bad_alloc{};
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_per_block(a_.get(), 10240);
    archive_write_set_bytes_in_last_block(a_.get(), 1);
  }

  caf::expected<void> open() {
    if (archive_write_open(a_.get(), &ctx_, nullptr, write_callback, nullptr) != ARCHIVE_OK)
      return fail("cannot start the archive");
    return {};
  }

  caf::expected<void> dir(const std::string& name) {
    auto e = entry(name, AE_IFDIR, 0755, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return fail(name);
    return {};
  }

  caf::expected<void> file(const std::string& name, std::string_view data) {
    auto e = entry(name, AE_IFREG, 0644, data.size());
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return fail(name);
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0)
      return fail(name);
    return {};
  }

  // Streams the file at `path` (`size` bytes) as `name`.
  caf::expected<void> file_from(const std::string& name, const fs::path& path, uint64_t size) {
    detail::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd) return detail::io_error("cannot open", path, errno);
    auto e = entry(name, AE_IFREG, 0644, size);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return fail(name);
    std::string buf(write_buffer_size, '\0');
    uint64_t sent = 0;
    while (sent < size) {
      auto n = detail::read_some(fd.get(), buf.data(), buf.size());
      if (n < 0) return detail::io_error("cannot read", path, errno);
      if (n == 0)
        return make_error(errc::io,
                          fmt::format("{} is shorter than {} bytes", path.string(), size));
      auto take = std::min<uint64_t>(static_cast<uint64_t>(n), size - sent);
      if (archive_write_data(a_.get(), buf.data(), take) < 0) return fail(name);
      sent += take;
    }
    return {};
  }

  caf::expected<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return fail("end of archive");
    return {};
  }

 private:
  std::unique_ptr<struct archive_entry, entry_deleter> entry(const std::string& name, unsigned type,
                                                             int mode, uint64_t size) {
    std::unique_ptr<struct archive_entry, entry_deleter> e{archive_entry_new()};
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(mode));
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), archive_mtime, 0);
    return e;
  }

  caf::error fail(std::string_view what) {
    if (ctx_.failure) return *ctx_.failure;
    const char* text = archive_error_string(a_.get());
    return make_error(errc::io, fmt::format("cannot write the archive ({}): {}", what,
                                            text != nullptr ? text : "unknown error"));
  }

  write_context ctx_;
  std::unique_ptr<struct archive, archive_write_deleter> a_;
};

}  // namespace

caf::expected<void> write_oci_archive(const content_store& store,
                                      const std::vector<archive_image>& images,
                                      const archive_writer& write) {
  // Everything each manifest needs, checked before the first byte goes out.
  std::vector<std::string> blobs;
  std::set<std::string> seen;
  auto add = [&](const std::string& digest) {
    if (seen.insert(digest).second) blobs.push_back(digest);
  };
  nlohmann::json index{{"schemaVersion", 2},
                       {"mediaType", media_type::oci_index},
                       {"manifests", nlohmann::json::array()}};
  for (const auto& img : images) {
    auto text = store.read_small(img.manifest.digest, max_manifest_bytes);
    if (!text) return with_context(text.error(), fmt::format("manifest {}", img.manifest.digest));
    auto m = parse_manifest(*text, img.manifest.media_type);
    if (!m) return with_context(m.error(), fmt::format("manifest {}", img.manifest.digest));
    add(img.manifest.digest);
    add(m->config.digest);
    for (const auto& l : m->layers) add(l.digest);
    nlohmann::json entry{{"mediaType", img.manifest.media_type},
                         {"digest", img.manifest.digest},
                         {"size", img.manifest.size}};
    if (img.manifest.platform) {
      entry["platform"] = {{"os", img.manifest.platform->os},
                           {"architecture", img.manifest.platform->architecture}};
      if (!img.manifest.platform->variant.empty())
        entry["platform"]["variant"] = img.manifest.platform->variant;
    }
    if (!img.name.empty()) {
      auto ref = parse_reference(img.name);
      if (!ref) return ref.error();
      entry["annotations"] = {{std::string{annotation_image_name}, ref->to_string()},
                              {std::string{annotation_ref_name}, ref->tag}};
    }
    index["manifests"].push_back(std::move(entry));
  }
  std::vector<std::pair<fs::path, uint64_t>> files;
  for (const auto& digest : blobs) {
    auto path = store.path_of(digest);
    if (!path) return path.error();
    auto size = store.size_of(digest);
    if (!size) return size.error();
    files.emplace_back(*path, *size);
  }
  tar_writer tar{write};
  if (auto ok = tar.open(); !ok) return ok;
  if (auto ok = tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"); !ok) return ok;
  if (auto ok = tar.file("index.json", index.dump()); !ok) return ok;
  if (auto ok = tar.dir("blobs/"); !ok) return ok;
  if (auto ok = tar.dir("blobs/sha256/"); !ok) return ok;
  for (size_t i = 0; i < blobs.size(); ++i) {
    auto name = "blobs/sha256/" + std::string{digest_hex(blobs[i])};
    if (auto ok = tar.file_from(name, files[i].first, files[i].second); !ok) return ok;
  }
  return tar.close();
}

}  // namespace berth::image
