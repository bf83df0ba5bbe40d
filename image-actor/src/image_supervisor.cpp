// image_supervisor.cpp: the image supervisor: image records, pullers, loads, pushes, saves, logins and
// garbage collection, with every blocking step on a worker thread.
#include "berth/image/image_supervisor.hpp"

#include "berth/actors/job.hpp"
#include "berth/actors/log.hpp"
#include "berth/os/random.hpp"
#include "berth/os/time.hpp"
#include "berth/actors/store.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/credentials.hpp"
#include "berth/image/erofs.hpp"
#include "berth/image/layout.hpp"
#include "berth/image/manifest.hpp"
#include "berth/image/reference.hpp"
#include "berth/image/registry.hpp"
#include "berth/image/unpack.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <set>

namespace berth::image {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger images_log("images");

// Bytes per chunk of a saved archive sent to the sink (the wire allows 1 MiB).
constexpr size_t save_chunk_bytes = 512 * 1024;

std::string hex_of(const std::string& digest) {
  return digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest;
}

std::string short_of(const std::string& digest) { return hex_of(digest).substr(0, 12); }

// -- leases -----------------------------------------------------------------------------------

// Blobs that pulls and loads in flight use, so that garbage collection leaves them alone. A
// lease protects the digests added to it (blobs a pull reuses) and every blob written since it
// was opened (blobs a load or pull stores). Shared between the actor and worker threads.
class lease_table {
 public:
  uint64_t open() {
    std::lock_guard<std::mutex> guard{m_};
    auto id = next_++;
    leases_[id].opened = os::unix_time_ns();
    return id;
  }

  void add(uint64_t id, const std::string& digest) {
    std::lock_guard<std::mutex> guard{m_};
    if (auto i = leases_.find(id); i != leases_.end()) i->second.digests.insert(digest);
  }

  void close(uint64_t id) {
    std::lock_guard<std::mutex> guard{m_};
    leases_.erase(id);
  }

  // Whether the blob `digest`, last modified at `mtime_ns`, is in use.
  bool protects(const std::string& digest, int64_t mtime_ns) const {
    std::lock_guard<std::mutex> guard{m_};
    // Two seconds of slack for coarse file system timestamps.
    constexpr int64_t slack = 2'000'000'000;
    for (const auto& [id, lease] : leases_)
      if (lease.digests.count(digest) || mtime_ns >= lease.opened - slack) return true;
    return false;
  }

  bool any() const {
    std::lock_guard<std::mutex> guard{m_};
    return !leases_.empty();
  }

 private:
  struct lease {
    int64_t opened = 0;
    std::set<std::string> digests;
  };
  mutable std::mutex m_;
  uint64_t next_ = 1;
  std::map<uint64_t, lease> leases_;
};

// -- pulls ------------------------------------------------------------------------------------

// What a pull's worker shares with the actor: who hears its progress, and its cancel flag.
class pull_shared {
 public:
  void add_listener(const caf::actor& listener, const std::string& reference) {
    std::lock_guard<std::mutex> guard{m_};
    listeners_.emplace_back(listener, reference);
  }

  // Drops `who`; true if it was a listener.
  bool remove_listener(const caf::actor_addr& who) {
    std::lock_guard<std::mutex> guard{m_};
    auto before = listeners_.size();
    std::erase_if(listeners_, [&](const auto& l) { return l.first.address() == who; });
    return listeners_.size() != before;
  }

  size_t listeners() const {
    std::lock_guard<std::mutex> guard{m_};
    return listeners_.size();
  }

  void send(api::progress p) const {
    std::lock_guard<std::mutex> guard{m_};
    for (const auto& [listener, reference] : listeners_) {
      p.reference = reference;
      caf::anon_send(listener, progress_atom_v, p);
    }
  }

  void clear() {
    std::lock_guard<std::mutex> guard{m_};
    listeners_.clear();
  }

  std::atomic<bool> cancel{false};

 private:
  mutable std::mutex m_;
  std::vector<std::pair<caf::actor, std::string>> listeners_;
};

struct pull_job {
  reference ref;
  platform want;
  std::vector<caf::typed_response_promise<api::image_info>> promises;
  std::shared_ptr<pull_shared> shared = std::make_shared<pull_shared>();
  size_t without_listener = 0;  // requesters that gave no listener (berth run's own pull)
  int starts = 0;
  uint64_t lease = 0;
};

struct images_state {
  image_options opts;
  std::map<std::string, image_record> images;  ///< By id.
  std::map<std::string, pull_job> pulls;       ///< By "reference platform".
  std::shared_ptr<lease_table> leases = std::make_shared<lease_table>();
  std::shared_ptr<credential_store> creds;
  int gc_running = 0;
  std::vector<uint64_t> leases_to_close;  ///< Closed when the running collection ends.
  static inline const char* name = "images";
};

using self_ptr = image_supervisor_actor::stateful_pointer<images_state>;

void close_lease(self_ptr self, uint64_t id) {
  if (id == 0) return;
  if (self->state.gc_running > 0) self->state.leases_to_close.push_back(id);
  else self->state.leases->close(id);
}

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

// The record of a resolved image (without tags, disk or times).
image_record record_of(const resolved_image& r) {
  image_record rec;
  rec.id = r.config_digest;
  rec.manifest_digest = r.manifest.digest;
  rec.os = r.config.os;
  rec.architecture = r.config.architecture;
  for (auto& l : r.layers) {
    rec.layers.push_back(l.digest);
    rec.layer_types.push_back(l.media_type);
  }
  rec.size = r.layers_size;
  rec.created = r.config.created;
  rec.entrypoint = r.config.entrypoint;
  rec.cmd = r.config.cmd;
  rec.env = r.config.env;
  rec.workdir = r.config.working_dir;
  rec.user = r.config.user;
  rec.stop_signal = r.config.stop_signal;
  rec.exposed_ports = r.config.exposed_ports;
  rec.volumes = r.config.volumes;
  rec.labels = r.config.labels;
  auto& h = r.config.healthcheck;
  rec.healthcheck = api::healthcheck{h.test, h.interval, h.timeout, h.start_period, h.retries};
  return rec;
}

// Builds the image's erofs disk unless it is there; fills rec.disk and rec.disk_size. Runs on a
// worker thread; an interrupted build leaves nothing at the disk's path.
caf::expected<void> ensure_disk(const fs::path& data_root, const content_store& store,
                                const resolved_image& r, image_record& rec) {
  std::error_code ec;
  auto dir = data_root / "images" / hex_of(rec.id);
  rec.disk = (dir / "rootfs.erofs").string();
  if (!fs::exists(rec.disk, ec)) {
    fs::create_directories(dir, ec);
    auto work = data_root / "tmp" / ("unpack-" + os::random_hex(8));
    auto rootfs = work / "rootfs";
    fs::create_directories(rootfs, ec);
    if (ec) return make_error(errc::io, "cannot create " + rootfs.string() + ": " + ec.message());
    auto started = std::chrono::steady_clock::now();
    auto unpacked = unpack_layers(store, r.layers, rootfs, r.config.diff_ids);
    caf::expected<uint64_t> built =
      unpacked ? build_erofs(rootfs, rec.disk) : caf::expected<uint64_t>(unpacked.error());
    fs::remove_all(work, ec);
    if (!built) return built.error();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    images_log.info("image={} disk built in {} ms ({} layers, {} entries)", short_of(rec.id), ms,
                    r.layers.size(), unpacked->entries);
  }
  rec.disk_size = fs::file_size(rec.disk, ec);
  return {};
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
    auto rec = record_of(img.image);
    if (!img.image.root_digest.empty() && img.image.root_digest != img.image.manifest.digest)
      rec.index_digest = img.image.root_digest;
    rec.loaded = os::unix_time_ns();
    if (!img.name.empty() && !is_tag(img.name)) {
      auto ref = parse_reference(img.name);
      if (!ref) return make_error(errc::invalid_argument, "the archive names its image \"" + img.name +
                                                              "\": " + describe(ref.error()));
      rec.tags.push_back(ref->to_string());
    }
    if (auto ok = ensure_disk(data_root, *store, img.image, rec); !ok) return ok.error();
    out.push_back(std::move(rec));
  }
  return out;
}

// Runs on the puller's thread: pulls, then builds the disk.
caf::expected<image_record> pull_and_build(const image_options& opts, const reference& ref,
                                           const platform& want, std::shared_ptr<pull_shared> shared,
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
  if (auto ok = ensure_disk(opts.data_root, *store, pulled->image, rec); !ok) return ok.error();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  images_log.info("image={} pulled {} in {} ms", short_of(rec.id), ref.to_string(), ms);
  return rec;
}

// How a lookup matched.
struct found_image {
  image_record* rec = nullptr;
  bool by_id = false;
  std::string tag;  ///< The full reference matched, when found by tag.
};

caf::expected<found_image> lookup(images_state& st, const std::string& text) {
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
    if (found) return found_image{found, true, {}};
  }
  auto ref = parse_reference(text);
  if (!ref) return ref.error();
  if (!ref->digest.empty()) {
    auto repo_digest = ref->name() + "@" + ref->digest;
    for (auto& [id, rec] : st.images)
      for (auto& d : rec.repo_digests)
        if (d == repo_digest) return found_image{&rec, true, {}};
    for (auto& [id, rec] : st.images)
      if (rec.manifest_digest == ref->digest || rec.index_digest == ref->digest)
        return found_image{&rec, true, {}};
  } else {
    for (auto& [id, rec] : st.images)
      for (auto& t : rec.tags)
        if (t == ref->to_string()) return found_image{&rec, false, t};
  }
  return make_error(errc::not_found, "No such image: " + ref->familiar());
}

store_actor store_of(self_ptr self) { return berth::store_of(self->home_system()); }

void save(self_ptr self, const image_record& rec) {
  if (auto store = store_of(self))
    self->request(store, caf::infinite, save_atom_v, rec)
        .then([] {}, [id = rec.id](caf::error& err) {
          images_log.error("image={} cannot save its record: {}", short_of(id), describe(err));
        });
}

void erase(self_ptr self, const std::string& id) {
  if (auto store = store_of(self))
    self->request(store, caf::infinite, erase_atom_v, image_atom_v, id)
        .then([] {}, [id](caf::error& err) {
          images_log.error("image={} cannot erase its record: {}", short_of(id), describe(err));
        });
}

// Merges a loaded or pulled record into the state: its tags move to it from any other image;
// tags and repo digests it had stay.
image_record& merge(self_ptr self, image_record rec) {
  auto& st = self->state;
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
    for (auto& d : current.repo_digests)
      if (std::find(rec.repo_digests.begin(), rec.repo_digests.end(), d) == rec.repo_digests.end())
        rec.repo_digests.push_back(d);
    if (rec.index_digest.empty()) rec.index_digest = current.index_digest;
    rec.loaded = current.loaded;
  }
  current = std::move(rec);
  save(self, current);
  return current;
}

// Runs `fn(containers)` with every container record (none if there is no store).
template <class F>
void with_containers(self_ptr self, F fn) {
  auto store = store_of(self);
  if (!store) {
    fn(std::vector<container_record>{});
    return;
  }
  self->request(store, caf::infinite, list_atom_v, container_atom_v)
      .then([fn](std::vector<container_record>& cs) mutable { fn(std::move(cs)); },
            [fn](caf::error& err) mutable {
              images_log.warn("cannot list containers: {}", describe(err));
              fn(std::vector<container_record>{});
            });
}

// -- garbage collection -------------------------------------------------------------------------

struct sweep_plan {
  std::vector<std::string> image_dirs;   ///< Hex ids whose disk directories go.
  std::vector<std::string> candidates;   ///< Blobs to delete if unreferenced (empty with all_blobs).
  bool all_blobs = false;                ///< Consider every blob in the store.
  bool orphan_dirs = false;              ///< Also delete image directories no record names.
  std::set<std::string> referenced;      ///< Blobs a remaining image uses.
  std::set<std::string> live_ids;        ///< Hex ids of remaining images.
};

std::set<std::string> referenced_blobs(const images_state& st) {
  std::set<std::string> out;
  for (const auto& [id, rec] : st.images) {
    out.insert(rec.id);
    if (!rec.manifest_digest.empty()) out.insert(rec.manifest_digest);
    if (!rec.index_digest.empty()) out.insert(rec.index_digest);
    out.insert(rec.layers.begin(), rec.layers.end());
  }
  return out;
}

caf::expected<api::removed> sweep(const fs::path& data_root, const lease_table& leases, sweep_plan plan) {
  api::removed out;
  std::error_code ec;
  auto images_dir = data_root / "images";
  if (plan.orphan_dirs && !leases.any())
    for (fs::directory_iterator i{images_dir, ec}, end; !ec && i != end; i.increment(ec))
      if (!plan.live_ids.count(i->path().filename().string()))
        plan.image_dirs.push_back(i->path().filename().string());
  for (const auto& hex : plan.image_dirs) {
    auto dir = images_dir / hex;
    auto size = fs::file_size(dir / "rootfs.erofs", ec);
    if (!ec) out.reclaimed += size;
    fs::remove_all(dir, ec);
    if (ec) return make_error(errc::io, fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
  }
  auto store = content_store::open(data_root / "content");
  if (!store) return store.error();
  if (plan.all_blobs) {
    auto all = store->list();
    if (!all) return all.error();
    plan.candidates = std::move(*all);
  }
  std::set<std::string> done;
  for (const auto& d : plan.candidates) {
    if (plan.referenced.count(d) || !done.insert(d).second) continue;
    auto path = store->path_of(d);
    if (!path) continue;
    struct stat st {};
    if (::stat(path->c_str(), &st) != 0) continue;
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (leases.protects(d, mtime)) continue;
    if (auto ok = store->remove(d); ok) {
      out.deleted.push_back(d);
      out.reclaimed += static_cast<uint64_t>(st.st_size);
    } else if (code_of(ok.error()) != errc::not_found) {
      return ok.error();
    }
  }
  return out;
}

// Runs `plan` on a worker, adds its result to `so_far` and delivers it.
void run_sweep(self_ptr self, sweep_plan plan, api::removed so_far,
               caf::typed_response_promise<api::removed> rp) {
  auto& st = self->state;
  ++st.gc_running;
  run_job(self, [root = st.opts.data_root, leases = st.leases, plan = std::move(plan)] {
    return sweep(root, *leases, plan);
  }).then(
      [self, so_far, rp](api::removed& r) mutable {
        auto out = so_far;
        out.deleted.insert(out.deleted.end(), r.deleted.begin(), r.deleted.end());
        out.reclaimed += r.reclaimed;
        auto& st = self->state;
        if (--st.gc_running == 0) {
          for (auto id : st.leases_to_close) st.leases->close(id);
          st.leases_to_close.clear();
        }
        images_log.info("removed {} images and blobs, {} bytes reclaimed", out.deleted.size(), out.reclaimed);
        rp.deliver(std::move(out));
      },
      [self, rp](caf::error& err) mutable {
        auto& st = self->state;
        if (--st.gc_running == 0) {
          for (auto id : st.leases_to_close) st.leases->close(id);
          st.leases_to_close.clear();
        }
        rp.deliver(std::move(err));
      });
}

// Removes the record of `rec` (which must have no tags left) and plans its deletion.
void drop_image(self_ptr self, const std::string& id, api::removed& out, sweep_plan& plan) {
  auto& st = self->state;
  auto i = st.images.find(id);
  if (i == st.images.end()) return;
  auto& rec = i->second;
  plan.image_dirs.push_back(hex_of(rec.id));
  plan.candidates.push_back(rec.id);
  if (!rec.manifest_digest.empty()) plan.candidates.push_back(rec.manifest_digest);
  if (!rec.index_digest.empty()) plan.candidates.push_back(rec.index_digest);
  plan.candidates.insert(plan.candidates.end(), rec.layers.begin(), rec.layers.end());
  out.deleted.push_back(rec.id);
  images_log.info("image={} deleted", short_of(rec.id));
  st.images.erase(i);
  erase(self, id);
}

std::string familiar(const std::string& full) {
  auto ref = parse_reference(full);
  return ref ? ref->familiar() : full;
}

// Untags every name of `rec`, reporting them as Docker does (tags, then repo digests).
void untag_all(image_record& rec, api::removed& out) {
  for (auto& t : rec.tags) out.untagged.push_back(familiar(t));
  for (auto& d : rec.repo_digests) out.untagged.push_back(familiar(d));
  rec.tags.clear();
  rec.repo_digests.clear();
}

// -- pulls in the actor ---------------------------------------------------------------------------

// A pull request that ended without the puller's answer (its exception, or it vanished), as
// opposed to a pull that failed and said why with a berth error.
bool puller_crashed(const caf::error& err) { return err && err.category() != caf::atom("berth"); }

void start_puller(self_ptr self, const std::string& key);

void finish_pull(self_ptr self, const std::string& key, caf::expected<image_record> result) {
  auto& st = self->state;
  auto i = st.pulls.find(key);
  if (i == st.pulls.end()) return;
  auto job = std::move(i->second);
  st.pulls.erase(i);
  job.shared->clear();
  if (!result) {
    images_log.warn("pull of {} failed: {}", job.ref.to_string(), describe(result.error()));
    for (auto& rp : job.promises) rp.deliver(result.error());
    close_lease(self, job.lease);
    return;
  }
  auto& rec = merge(self, std::move(*result));
  auto info = to_info(rec);
  for (auto& rp : job.promises) rp.deliver(info);
  close_lease(self, job.lease);
}

void start_puller(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto& job = st.pulls.at(key);
  ++job.starts;
  if (job.lease == 0) job.lease = st.leases->open();
  auto fn = [opts = st.opts, ref = job.ref, want = job.want, shared = job.shared, leases = st.leases,
             lease = job.lease] { return pull_and_build(opts, ref, want, shared, leases, lease); };
  // The puller: a worker of its own whose exceptions keep their text in its exit reason.
  auto puller = self->spawn<caf::detached>([fn](caf::event_based_actor* w) -> caf::behavior {
    w->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& e) -> caf::error {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        return caf::make_error(caf::sec::runtime_error, std::string{x.what()});
      } catch (...) {
        return caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"});
      }
    });
    return {
        [w, fn](go_atom) -> caf::result<image_record> {
          auto r = fn();
          w->quit();
          if (!r) return std::move(r.error());
          return std::move(*r);
        },
    };
  });
  images_log.info("pull of {} for {} started{}", job.ref.to_string(), job.want.to_string(),
                  job.starts > 1 ? fmt::format(" again (restart {})", job.starts - 1) : "");
  self->request(puller, caf::infinite, go_atom_v)
      .then([self, key](image_record& rec) { finish_pull(self, key, std::move(rec)); },
            [self, key](caf::error& err) {
              auto& st = self->state;
              auto i = st.pulls.find(key);
              if (i == st.pulls.end()) return;
              if (puller_crashed(err) && i->second.starts <= st.opts.max_pull_restarts &&
                  !i->second.shared->cancel.load()) {
                images_log.warn("puller of {} crashed ({}); restarting it", key, describe(err));
                start_puller(self, key);
                return;
              }
              if (puller_crashed(err))
                err = make_error(errc::internal, fmt::format("the pull crashed {} times; last: {}",
                                                             i->second.starts, describe(err)));
              finish_pull(self, key, std::move(err));
            });
}

// The registry settings with logins filled in.
registry_options with_credentials(registry_options opts, std::shared_ptr<credential_store> creds) {
  if (!opts.credentials)
    opts.credentials = [creds](std::string_view server) { return creds->get(server); };
  return opts;
}

// Sends a saved archive to `sink` in chunks, as the stream messages of the interface.
class chunk_sender {
 public:
  explicit chunk_sender(caf::actor sink) : sink_(std::move(sink)) { buf_.reserve(save_chunk_bytes); }

  caf::expected<void> write(std::string_view bytes) {
    while (!bytes.empty()) {
      auto take = std::min(bytes.size(), save_chunk_bytes - buf_.size());
      buf_.insert(buf_.end(), bytes.data(), bytes.data() + take);
      bytes.remove_prefix(take);
      if (buf_.size() == save_chunk_bytes) flush();
    }
    return {};
  }

  void flush() {
    if (buf_.empty()) return;
    caf::anon_send(sink_, output_atom_v, std::string{}, uint8_t{1}, int64_t{0}, std::move(buf_));
    buf_ = std::vector<char>{};
    buf_.reserve(save_chunk_bytes);
  }

 private:
  caf::actor sink_;
  std::vector<char> buf_;
};

image_supervisor_actor::behavior_type images_behavior(self_ptr self, image_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.creds = std::make_shared<credential_store>(st.opts.data_root / "credentials.json", st.opts.docker_config);
  st.opts.registry = with_credentials(st.opts.registry, st.creds);
  if (auto store = store_to_load_from(self)) {
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
  // Ingest files of a load or pull that died with a previous berthd are garbage. Awaited: no
  // load or pull may start (and write an ingest file) before they are gone.
  run_job(self, [root = st.opts.data_root] {
    auto store = content_store::open(root / "content");
    if (!store) return caf::expected<size_t>(store.error());
    return store->remove_stale_ingests();
  }).await([](size_t n) { if (n) images_log.info("removed {} stale ingest files", n); },
          [](caf::error& err) { images_log.warn("{}", describe(err)); });
  // A listener that goes away stops hearing progress; a pull nobody listens to any more (every
  // client hung up) is cancelled.
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [key, job] : self->state.pulls) {
      if (!job.shared->remove_listener(msg.source)) continue;
      if (job.shared->listeners() == 0 && job.without_listener == 0 && !job.shared->cancel.load()) {
        images_log.info("pull of {} cancelled: every client went away", job.ref.to_string());
        job.shared->cancel = true;
      }
    }
  });
  return {
      [self](load_atom, const std::string& path) -> caf::result<std::vector<api::image_info>> {
        auto rp = self->make_response_promise<std::vector<api::image_info>>();
        auto lease = self->state.leases->open();
        run_job(self, [root = self->state.opts.data_root, path] { return load_images(root, path); })
            .then(
                [self, rp, lease](std::vector<image_record>& loaded) mutable {
                  std::vector<api::image_info> out;
                  for (auto& rec : loaded) {
                    auto tag = rec.tags.empty() ? std::string{} : rec.tags.front();
                    auto& current = merge(self, std::move(rec));
                    images_log.info("image={} loaded{}", short_of(current.id), tag.empty() ? "" : " as " + tag);
                    out.push_back(to_info(current));
                  }
                  close_lease(self, lease);
                  rp.deliver(std::move(out));
                },
                [self, rp, lease](caf::error& err) mutable {
                  close_lease(self, lease);
                  rp.deliver(std::move(err));
                });
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
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto& r = *found->rec;
        image_runtime rt;
        rt.id = r.id;
        rt.reference = !found->tag.empty() ? found->tag : r.tags.empty() ? r.id : r.tags.front();
        rt.disk = r.disk;
        rt.entrypoint = r.entrypoint;
        rt.cmd = r.cmd;
        rt.env = r.env;
        rt.workdir = r.workdir;
        rt.user = r.user;
        rt.stop_signal = r.stop_signal;
        rt.exposed_ports = r.exposed_ports;
        rt.healthcheck = r.healthcheck;
        rt.labels = r.labels;
        return rt;
      },
      [self](pull_atom, const std::string& text, const std::string& platform_text,
             const caf::actor& listener) -> caf::result<api::image_info> {
        auto ref = parse_reference(text);
        if (!ref) return ref.error();
        auto want = platform_text.empty() ? caf::expected<platform>{default_platform()}
                                          : parse_platform(platform_text);
        if (!want) return want.error();
        auto key = ref->to_string() + " " + want->to_string();
        auto& st = self->state;
        bool fresh = !st.pulls.count(key);
        auto& job = st.pulls[key];
        if (fresh) {
          job.ref = *ref;
          job.want = *want;
        } else {
          images_log.info("pull of {} joins the one in flight", key);
        }
        auto rp = self->make_response_promise<api::image_info>();
        job.promises.push_back(rp);
        if (listener) {
          job.shared->add_listener(listener, text);
          self->monitor(listener);
        } else {
          ++job.without_listener;
        }
        if (fresh) start_puller(self, key);
        return rp;
      },
      [self](push_atom, const std::string& text, const caf::actor& listener) -> caf::result<api::pushed> {
        auto ref = parse_reference(text);
        if (!ref) return ref.error();
        if (ref->tag.empty() || !ref->digest.empty())
          return make_error(errc::invalid_argument, "push needs a reference with a tag and no digest: " + text);
        auto found = lookup(self->state, ref->to_string());
        if (!found)
          return make_error(errc::not_found, "An image does not exist locally with the tag: " + ref->familiar());
        auto manifest = found->rec->manifest_digest;
        auto id = found->rec->id;
        auto rp = self->make_response_promise<api::pushed>();
        run_job(self, [root = self->state.opts.data_root, reg = self->state.opts.registry, ref = *ref,
                       manifest, listener, text]() -> caf::expected<api::pushed> {
          auto store = content_store::open(root / "content");
          if (!store) return store.error();
          progress_fn progress;
          if (listener)
            progress = [listener, text](const api::progress& p) {
              auto q = p;
              q.reference = text;
              caf::anon_send(listener, progress_atom_v, q);
            };
          return push_image(*store, ref, manifest, reg, progress);
        }).then(
            [self, rp, id, ref = *ref](api::pushed& pushed) mutable {
              auto& st = self->state;
              if (auto i = st.images.find(id); i != st.images.end()) {
                auto repo_digest = ref.name() + "@" + pushed.digest;
                auto& rds = i->second.repo_digests;
                if (std::find(rds.begin(), rds.end(), repo_digest) == rds.end()) {
                  rds.push_back(repo_digest);
                  save(self, i->second);
                }
              }
              images_log.info("image={} pushed as {} ({})", short_of(id), ref.to_string(), pushed.digest);
              rp.deliver(std::move(pushed));
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](tag_atom, const std::string& source, const std::string& target) -> caf::result<void> {
        auto found = lookup(self->state, source);
        if (!found) return found.error();
        auto ref = parse_reference(target);
        if (!ref) return ref.error();
        if (!ref->digest.empty())
          return make_error(errc::invalid_argument, "refusing to create a tag with a digest reference: " + target);
        auto full = ref->to_string();
        auto id = found->rec->id;
        for (auto& [other_id, other] : self->state.images) {
          if (other_id == id) continue;
          if (std::erase(other.tags, full) > 0) save(self, other);
        }
        auto& rec = self->state.images.at(id);
        if (std::find(rec.tags.begin(), rec.tags.end(), full) == rec.tags.end()) {
          rec.tags.push_back(full);
          save(self, rec);
        }
        return caf::unit;
      },
      [self](remove_atom, const std::string& text, bool force) -> caf::result<api::removed> {
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto id = found->rec->id;
        auto rp = self->make_response_promise<api::removed>();
        with_containers(self, [self, rp, id, text, force, by_id = found->by_id,
                               tag = found->tag](std::vector<container_record> containers) mutable {
          auto& st = self->state;
          auto i = st.images.find(id);
          if (i == st.images.end()) {
            rp.deliver(make_error(errc::not_found, "No such image: " + text));
            return;
          }
          auto& rec = i->second;
          api::removed out;
          // One tag of several: only that name goes.
          if (!by_id && rec.tags.size() > 1) {
            std::erase(rec.tags, tag);
            out.untagged.push_back(familiar(tag));
            save(self, rec);
            rp.deliver(std::move(out));
            return;
          }
          if (by_id && rec.tags.size() > 1 && !force) {
            rp.deliver(make_error(errc::conflict,
                                  fmt::format("conflict: unable to delete {} (must be forced) - image is "
                                              "referenced in multiple repositories",
                                              short_of(id))));
            return;
          }
          const container_record* user = nullptr;
          for (auto& c : containers)
            if (c.image_id == id && (!user || c.state == state::running)) user = &c;
          if (user) {
            if (!force) {
              auto what = by_id ? fmt::format("unable to delete {} (must be forced)", short_of(id))
                                : fmt::format("unable to remove repository reference \"{}\" (must force)",
                                              familiar(tag));
              rp.deliver(make_error(errc::conflict,
                                    fmt::format("conflict: {} - container {} is using its referenced image {}",
                                                what, user->id.substr(0, 12), short_of(id))));
              return;
            }
            // Forced: the names go, the image stays while containers use it (prune takes it later).
            untag_all(rec, out);
            save(self, rec);
            rp.deliver(std::move(out));
            return;
          }
          untag_all(rec, out);
          sweep_plan plan;
          drop_image(self, id, out, plan);
          plan.referenced = referenced_blobs(st);
          run_sweep(self, std::move(plan), std::move(out), rp);
        });
        return rp;
      },
      [self](prune_atom, bool all) -> caf::result<api::removed> {
        auto rp = self->make_response_promise<api::removed>();
        with_containers(self, [self, rp, all](std::vector<container_record> containers) mutable {
          auto& st = self->state;
          std::set<std::string> used;
          for (auto& c : containers) used.insert(c.image_id);
          api::removed out;
          sweep_plan plan;
          std::vector<std::string> victims;
          for (auto& [id, rec] : st.images)
            if ((rec.tags.empty() || all) && !used.count(id)) victims.push_back(id);
          for (auto& id : victims) {
            untag_all(st.images.at(id), out);
            drop_image(self, id, out, plan);
          }
          plan.all_blobs = true;
          plan.orphan_dirs = true;
          plan.referenced = referenced_blobs(st);
          for (auto& [id, rec] : st.images) plan.live_ids.insert(hex_of(id));
          run_sweep(self, std::move(plan), std::move(out), rp);
        });
        return rp;
      },
      [self](save_atom, const std::vector<std::string>& refs, const caf::actor& sink) -> caf::result<void> {
        if (refs.empty()) return make_error(errc::invalid_argument, "save needs at least one image");
        if (!sink) return make_error(errc::invalid_argument, "save needs a sink");
        struct wanted {
          std::string name;
          std::string manifest;
          platform p;
        };
        std::vector<wanted> images;
        for (auto& text : refs) {
          auto found = lookup(self->state, text);
          if (!found) return found.error();
          images.push_back({found->tag, found->rec->manifest_digest,
                            platform{found->rec->os, found->rec->architecture, ""}});
        }
        caf::response_promise rp = self->make_response_promise();
        auto lease = self->state.leases->open();
        run_job(self, [root = self->state.opts.data_root, images, sink]() -> caf::expected<bool> {
          auto store = content_store::open(root / "content");
          if (!store) return store.error();
          std::vector<archive_image> entries;
          for (auto& w : images) {
            auto text = store->read_small(w.manifest, max_manifest_bytes);
            if (!text) return text.error();
            auto m = parse_manifest(*text, {});
            if (!m) return m.error();
            archive_image a;
            a.name = w.name;
            a.manifest.media_type = m->media_type;
            a.manifest.digest = w.manifest;
            a.manifest.size = text->size();
            if (!w.p.os.empty()) a.manifest.platform = w.p;
            entries.push_back(std::move(a));
          }
          chunk_sender out{sink};
          auto ok = write_oci_archive(*store, entries, [&](std::string_view b) { return out.write(b); });
          if (!ok) return ok.error();
          out.flush();
          caf::anon_send(sink, end_atom_v, std::string{});
          return true;
        }).then([self, rp, lease](bool) mutable {
                  close_lease(self, lease);
                  rp.deliver(caf::unit);
                },
                [self, rp, lease](caf::error& err) mutable {
                  close_lease(self, lease);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](inspect_atom, const std::string& text) -> caf::result<api::image_detail> {
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto& r = *found->rec;
        api::image_detail d;
        d.info = to_info(r);
        d.layers = r.layers;
        d.entrypoint = r.entrypoint;
        d.cmd = r.cmd;
        d.env = r.env;
        d.workdir = r.workdir;
        d.user = r.user;
        d.stop_signal = r.stop_signal;
        d.exposed_ports = r.exposed_ports;
        d.volumes = r.volumes;
        d.labels = r.labels;
        d.healthcheck = r.healthcheck;
        return d;
      },
      [self](login_atom, const std::string& server, const std::string& user,
             const std::string& password) -> caf::result<void> {
        auto key = normalize_server(server);
        if (!key) return key.error();
        if (user.empty()) return make_error(errc::invalid_argument, "login needs a user name");
        caf::response_promise rp = self->make_response_promise();
        run_job(self, [reg = self->state.opts.registry, creds = self->state.creds, key = *key, user,
                       password]() -> caf::expected<bool> {
          credential c{user, password};
          if (auto ok = check_login(key, c, reg); !ok) return ok.error();
          if (auto ok = creds->put(key, c); !ok) return ok.error();
          return true;
        }).then([rp, key = *key](bool) mutable {
                  images_log.info("logged in to {}", key);
                  rp.deliver(caf::unit);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](logout_atom, const std::string& server) -> caf::result<void> {
        caf::response_promise rp = self->make_response_promise();
        run_job(self, [creds = self->state.creds, server]() -> caf::expected<bool> {
          if (auto ok = creds->erase(server); !ok) return ok.error();
          return true;
        }).then([rp](bool) mutable { rp.deliver(caf::unit); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

}  // namespace

image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent, fs::path data_root) {
  image_options opts;
  opts.data_root = std::move(data_root);
  return spawn_image_supervisor(parent, std::move(opts));
}

image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent, image_options options) {
  return parent->spawn<caf::linked>(images_behavior, std::move(options));
}

}  // namespace berth::image
