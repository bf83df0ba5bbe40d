// image_actor.cpp: the image supervisor: image records, loads on worker threads, lookups.
#include "berth/image/image_actor.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/os.hpp"
#include "berth/actors/store.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/erofs.hpp"
#include "berth/image/layout.hpp"
#include "berth/image/reference.hpp"
#include "berth/image/unpack.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>

namespace berth::image {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger images_log("images");

std::string hex_of(const std::string& digest) {
  return digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest;
}

struct images_state {
  fs::path data_root;
  std::map<std::string, image_record> images;  ///< By id.
  static inline const char* name = "images";
};

using self_ptr = image_actor::stateful_pointer<images_state>;

api::image_info to_info(const image_record& rec) {
  api::image_info info;
  info.id = rec.id;
  for (auto& t : rec.tags) {
    auto ref = parse_reference(t);
    info.tags.push_back(ref ? ref->familiar() : t);
  }
  info.manifest_digest = rec.manifest_digest;
  info.os = rec.os;
  info.architecture = rec.architecture;
  info.size = rec.size;
  info.disk_size = rec.disk_size;
  info.created = rec.created;
  return info;
}

// Runs on a job thread: imports the archive or layout at `path`, builds each image's erofs disk
// once, and returns the records (without tags merged with existing ones).
caf::expected<std::vector<image_record>> load_images(const fs::path& data_root, const fs::path& path) {
  auto store = content_store::open(data_root / "content");
  if (!store) return store.error();
  std::error_code ec;
  auto loaded = fs::is_directory(path, ec) ? load_layout_dir(*store, path) : load_layout_archive(*store, path);
  if (!loaded) return loaded.error();
  if (loaded->empty()) return make_error(errc::invalid_argument, "the archive holds no image");
  std::vector<image_record> out;
  for (auto& img : *loaded) {
    image_record rec;
    auto& r = img.image;
    rec.id = r.config_digest;
    rec.manifest_digest = r.manifest.digest;
    rec.os = r.config.os;
    rec.architecture = r.config.architecture;
    for (auto& l : r.layers) rec.layers.push_back(l.digest);
    rec.size = r.layers_size;
    rec.created = r.config.created;
    rec.loaded = os::unix_time_ns();
    rec.entrypoint = r.config.entrypoint;
    rec.cmd = r.config.cmd;
    rec.env = r.config.env;
    rec.workdir = r.config.working_dir;
    rec.user = r.config.user;
    rec.stop_signal = r.config.stop_signal;
    if (!img.name.empty() && !is_tag(img.name)) {
      auto ref = parse_reference(img.name);
      if (!ref) return make_error(errc::invalid_argument, "the archive names its image \"" + img.name +
                                                              "\": " + describe(ref.error()));
      rec.tags.push_back(ref->to_string());
    }
    auto dir = data_root / "images" / hex_of(rec.id);
    rec.disk = (dir / "rootfs.erofs").string();
    if (!fs::exists(rec.disk)) {
      fs::create_directories(dir, ec);
      auto work = data_root / "tmp" / ("unpack-" + os::random_hex(8));
      auto rootfs = work / "rootfs";
      fs::create_directories(rootfs, ec);
      if (ec) return make_error(errc::io, "cannot create " + rootfs.string() + ": " + ec.message());
      auto started = std::chrono::steady_clock::now();
      auto unpacked = unpack_layers(*store, r.layers, rootfs, r.config.diff_ids);
      caf::expected<uint64_t> built = unpacked ? build_erofs(rootfs, rec.disk) : caf::expected<uint64_t>(unpacked.error());
      fs::remove_all(work, ec);
      if (!built) return built.error();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
      images_log.info("image={} disk built in {} ms ({} layers, {} entries)", hex_of(rec.id).substr(0, 12), ms,
                      r.layers.size(), unpacked->entries);
    }
    rec.disk_size = fs::file_size(rec.disk, ec);
    out.push_back(std::move(rec));
  }
  return out;
}

caf::expected<image_record*> lookup(images_state& st, const std::string& text) {
  // An id or id prefix first ("sha256:ab12..." or "ab12..."), as Docker does.
  auto hex = hex_of(text);
  bool hexish = hex.size() >= 4 && hex.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hexish) {
    image_record* found = nullptr;
    for (auto& [id, rec] : st.images)
      if (hex_of(id).compare(0, hex.size(), hex) == 0) {
        if (found) return make_error(errc::invalid_argument, "more than one image matches " + text);
        found = &rec;
      }
    if (found) return found;
  }
  auto ref = parse_reference(text);
  if (!ref) return ref.error();
  for (auto& [id, rec] : st.images) {
    if (!ref->digest.empty() && rec.manifest_digest == ref->digest) return &rec;
    for (auto& t : rec.tags)
      if (t == ref->to_string()) return &rec;
  }
  return make_error(errc::not_found, "No such image: " + ref->familiar());
}

store_actor store_of(self_ptr self) {
  return self->home_system().registry().get<store_actor>(caf::atom_from_string(store_name));
}

void save(self_ptr self, const image_record& rec) {
  if (auto store = store_of(self))
    self->request(store, caf::infinite, save_atom_v, rec)
        .then([] {}, [id = rec.id](caf::error& err) {
          images_log.error("image={} cannot save its record: {}", hex_of(id).substr(0, 12), describe(err));
        });
}

image_actor::behavior_type images_behavior(self_ptr self, fs::path data_root) {
  self->state.data_root = std::move(data_root);
  if (auto store = store_of(self)) {
    self->request(store, caf::infinite, list_atom_v, image_atom_v)
        .await([self](std::vector<image_record>& records) {
                 for (auto& rec : records) self->state.images[rec.id] = std::move(rec);
                 images_log.info("loaded {} images", self->state.images.size());
               },
               [self](caf::error& err) {
                 images_log.error("cannot load images: {}", describe(err));
                 self->quit(err);
               });
  }
  // Ingest files of a load that died with a previous berthd are garbage; no load runs yet.
  run_job(self, [root = self->state.data_root] {
    auto store = content_store::open(root / "content");
    if (!store) return caf::expected<size_t>(store.error());
    return store->remove_stale_ingests();
  }).then([](size_t n) { if (n) images_log.info("removed {} stale ingest files", n); },
          [](caf::error& err) { images_log.warn("{}", describe(err)); });
  return {
      [self](load_atom, const std::string& path) -> caf::result<std::vector<api::image_info>> {
        auto rp = self->make_response_promise<std::vector<api::image_info>>();
        run_job(self, [root = self->state.data_root, path] { return load_images(root, path); })
            .then(
                [self, rp](std::vector<image_record>& loaded) mutable {
                  auto& st = self->state;
                  std::vector<api::image_info> out;
                  for (auto& rec : loaded) {
                    // A tag names one image: it moves from any other image to this one.
                    for (auto& [id, other] : st.images) {
                      if (id == rec.id) continue;
                      auto before = other.tags.size();
                      for (auto& t : rec.tags) std::erase(other.tags, t);
                      if (other.tags.size() != before) save(self, other);
                    }
                    auto& current = st.images[rec.id];
                    if (!current.id.empty()) {
                      for (auto& t : current.tags)
                        if (std::find(rec.tags.begin(), rec.tags.end(), t) == rec.tags.end()) rec.tags.push_back(t);
                      rec.loaded = current.loaded;
                    }
                    current = rec;
                    save(self, current);
                    images_log.info("image={} loaded{}", hex_of(rec.id).substr(0, 12),
                                    rec.tags.empty() ? "" : " as " + rec.tags.front());
                    out.push_back(to_info(current));
                  }
                  rp.deliver(std::move(out));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](list_atom) {
        std::vector<api::image_info> out;
        std::vector<const image_record*> recs;
        for (auto& [id, rec] : self->state.images) recs.push_back(&rec);
        std::sort(recs.begin(), recs.end(), [](auto* a, auto* b) { return a->loaded > b->loaded; });
        for (auto* rec : recs) out.push_back(to_info(*rec));
        return out;
      },
      [self](resolve_atom, const std::string& text) -> caf::result<image_runtime> {
        auto rec = lookup(self->state, text);
        if (!rec) return rec.error();
        auto& r = **rec;
        image_runtime rt;
        rt.id = r.id;
        rt.reference = r.tags.empty() ? r.id : r.tags.front();
        rt.disk = r.disk;
        rt.entrypoint = r.entrypoint;
        rt.cmd = r.cmd;
        rt.env = r.env;
        rt.workdir = r.workdir;
        rt.user = r.user;
        rt.stop_signal = r.stop_signal;
        return rt;
      },
      // Registry work (issue 3) is in progress: these answer unsupported until it lands.
      [](pull_atom, const std::string&, const std::string&, const caf::actor&) -> caf::result<api::image_info> {
        return make_error(errc::unsupported, "pulling images is not implemented yet");
      },
      [](push_atom, const std::string&, const caf::actor&) -> caf::result<api::pushed> {
        return make_error(errc::unsupported, "pushing images is not implemented yet");
      },
      [](tag_atom, const std::string&, const std::string&) -> caf::result<void> {
        return make_error(errc::unsupported, "tagging images is not implemented yet");
      },
      [](remove_atom, const std::string&, bool) -> caf::result<api::removed> {
        return make_error(errc::unsupported, "removing images is not implemented yet");
      },
      [](prune_atom, bool) -> caf::result<api::removed> {
        return make_error(errc::unsupported, "pruning images is not implemented yet");
      },
      [](save_atom, const std::vector<std::string>&, const caf::actor&) -> caf::result<void> {
        return make_error(errc::unsupported, "saving images is not implemented yet");
      },
      [](inspect_atom, const std::string&) -> caf::result<api::image_detail> {
        return make_error(errc::unsupported, "inspecting images is not implemented yet");
      },
      [](login_atom, const std::string&, const std::string&, const std::string&) -> caf::result<void> {
        return make_error(errc::unsupported, "registry login is not implemented yet");
      },
      [](logout_atom, const std::string&) -> caf::result<void> {
        return make_error(errc::unsupported, "registry logout is not implemented yet");
      },
  };
}

}  // namespace

image_actor spawn_image_supervisor(caf::local_actor* parent, fs::path data_root) {
  return parent->spawn<caf::linked>(images_behavior, std::move(data_root));
}

}  // namespace berth::image
