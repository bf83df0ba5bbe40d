// image_disk.cpp: loads and pulls on worker threads, each ending in the image's erofs disk.
//
// Layers are unpacked into DATA/tmp/unpack-<random>, made 0700 here whatever DATA's mode (unpack
// checks again that no other user can reach the tree: it holds the image's device nodes and
// setuid files), and the tree is removed whether the build succeeds or fails. A layer that
// cannot be unpacked (malformed, escaping its root, over the caps) is the image's fault, not the
// caller's: it fails with protocol, as a malformed answer of a registry does.
#include "images_state.hpp"

#include "berth/image/content_store.hpp"
#include "berth/image/erofs.hpp"
#include "berth/image/layout.hpp"
#include "berth/image/registry.hpp"
#include "berth/image/unpack.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace berth::image::detail {

namespace {

// Builds the image's erofs disk unless it is there; fills rec.disk and rec.disk_size. Runs on a
// worker thread; an interrupted build leaves nothing at the disk's path.
caf::expected<void> ensure_disk(const fs::path& data_root, const content_store& store,
                                const resolved_image& r, image_record& rec,
                                const unpack_limits& limits) {
  std::error_code ec;
  auto dir = data_root / "images" / hex_of(rec.id);
  rec.disk = (dir / "rootfs.erofs").string();
  if (!fs::exists(rec.disk, ec)) {
    auto work = data_root / "tmp" / ("unpack-" + os::random_hex(8));
    auto rootfs = work / "rootfs";
    fs::create_directories(data_root / "tmp", ec);
    // Private from the moment it exists: mkdir with the mode, never a chmod after.
    if (ec || ::mkdir(work.c_str(), 0700) != 0 || ::mkdir(rootfs.c_str(), 0700) != 0)
      return make_error(errc::io, "cannot create " + rootfs.string() + ": " +
                                      (ec ? ec.message() : std::strerror(errno)));
    auto started = std::chrono::steady_clock::now();
    auto unpacked = unpack_layers(store, r.layers, rootfs, r.config.diff_ids, limits);
    if (!unpacked && code_of(unpacked.error()) == errc::invalid_argument)
      unpacked =
          make_error(errc::protocol, "the image is malformed: " + describe(unpacked.error()));
    if (unpacked) fs::create_directories(dir, ec);
    caf::expected<uint64_t> built =
        unpacked ? build_erofs(rootfs, rec.disk) : caf::expected<uint64_t>(unpacked.error());
    fs::remove_all(work, ec);
    if (!built) {
      fs::remove(dir, ec);  // only if empty: another build may have finished meanwhile
      return built.error();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - started)
                  .count();
    images_log.info("image={} disk built in {} ms ({} layers, {} entries)", short_of(rec.id), ms,
                    r.layers.size(), unpacked->entries);
  }
  rec.disk_size = fs::file_size(rec.disk, ec);
  return {};
}

}  // namespace

// Runs on a job thread: imports the archive or layout at `path`, builds each image's erofs disk
// once, and returns the records (without tags merged with existing ones).
caf::expected<std::vector<image_record>> load_images(const fs::path& data_root,
                                                     const fs::path& path,
                                                     const unpack_limits& limits) {
  auto store = content_store::open(data_root / "content");
  if (!store) return store.error();
  std::error_code ec;
  auto loaded = fs::is_directory(path, ec) ? load_layout_dir(*store, path)
                                           : load_layout_archive(*store, path);
  if (!loaded) return loaded.error();
  if (loaded->empty()) return make_error(errc::invalid_argument, "the archive holds no image");
  std::vector<image_record> out;
  for (auto& img : *loaded) {
    auto rec = record_of(img.image);
    if (!img.image.root_digest.empty() && img.image.root_digest != img.image.manifest.digest)
      rec.index_digest = img.image.root_digest;
    rec.loaded = os::unix_time_ns();
    if (!img.name.empty() && !is_tag(img.name)) {
      auto ref = parse_reference(img.name);
      if (!ref)
        return make_error(errc::invalid_argument, "the archive names its image \"" + img.name +
                                                      "\": " + describe(ref.error()));
      rec.tags.push_back(ref->to_string());
    }
    if (auto ok = ensure_disk(data_root, *store, img.image, rec, limits); !ok) return ok.error();
    out.push_back(std::move(rec));
  }
  return out;
}

// Runs on the puller's thread: pulls, then builds the disk.
caf::expected<image_record> pull_and_build(const image_options& opts, const reference& ref,
                                           const platform& want,
                                           std::shared_ptr<pull_shared> shared,
                                           std::shared_ptr<lease_table> leases, uint64_t lease) {
  auto store = content_store::open(opts.data_root / "content");
  if (!store) return store.error();
  pull_options po;
  po.want = want;
  po.progress = [shared](const api::progress& p) { shared->send(p); };
  po.cancel = &shared->cancel;
  po.on_blob = [leases, lease](const std::string& d) { leases->add(lease, d); };
  po.after_blob = opts.after_blob;
  auto started = std::chrono::steady_clock::now();
  auto pulled = pull_image(*store, ref, opts.registry, po);
  if (!pulled) return pulled.error();
  auto rec = record_of(pulled->image);
  rec.index_digest = pulled->index_digest;
  rec.repo_digests.push_back(pulled->repo_digest);
  if (!ref.tag.empty()) rec.tags.push_back(ref.name() + ":" + ref.tag);
  rec.loaded = os::unix_time_ns();
  if (auto ok = ensure_disk(opts.data_root, *store, pulled->image, rec, opts.unpack); !ok)
    return ok.error();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  images_log.info("image={} pulled {} in {} ms", short_of(rec.id), ref.to_string(), ms);
  return rec;
}

}  // namespace berth::image::detail
