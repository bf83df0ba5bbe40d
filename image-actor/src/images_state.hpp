// images_state.hpp: the image supervisor's state and the functions its parts share (private to
// image-actor).
//
// The image supervisor is one behaviour (image_supervisor.cpp, with the chunking of saved
// archives) with its parts beside it: image_records.cpp (image records: lookups, tags, the
// store's copies), image_disk.cpp (loads and pulls on worker threads, each ending in the image's
// erofs disk), pullers.cpp (one puller actor per pull, restarted when it crashes) and
// image_gc.cpp (leases, image rm and prune: the sweep of disks and blobs). They all work on one
// images_state through the actor's pointer.
#pragma once

#include "berth/actors/log.hpp"
#include "berth/actors/store.hpp"
#include "berth/image/credentials.hpp"
#include "berth/image/descriptor.hpp"
#include "berth/image/image.hpp"
#include "berth/image/image_supervisor.hpp"
#include "berth/image/reference.hpp"
#include "berth/os/time.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace berth::image::detail {

namespace fs = std::filesystem;

inline constexpr log::logger images_log("images");

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

// image_records.cpp: image records: lookups, tags and the store's copies (with_containers, a
// template, is defined here).
std::string hex_of(const std::string& digest);
std::string short_of(const std::string& digest);
api::image_info to_info(const image_record& rec);
image_record record_of(const resolved_image& r);

// How a lookup matched.
struct found_image {
  image_record* rec = nullptr;
  bool by_id = false;
  std::string tag;  ///< The full reference matched, when found by tag.
};

caf::expected<found_image> lookup(images_state& st, const std::string& text);
store_actor store_of(self_ptr self);
void save(self_ptr self, const image_record& rec);
void erase(self_ptr self, const std::string& id);
image_record& merge(self_ptr self, image_record rec);
std::string familiar(const std::string& full);
void untag_all(image_record& rec, api::removed& out);

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

// image_disk.cpp: loads and pulls on worker threads, and the image disk they end in.
caf::expected<std::vector<image_record>> load_images(const fs::path& data_root,
                                                     const fs::path& path,
                                                     const unpack_limits& limits);
caf::expected<image_record> pull_and_build(const image_options& opts, const reference& ref,
                                           const platform& want,
                                           std::shared_ptr<pull_shared> shared,
                                           std::shared_ptr<lease_table> leases, uint64_t lease);

// pullers.cpp: one puller actor per pull.
void start_puller(self_ptr self, const std::string& key);

// image_gc.cpp: leases and garbage collection.
struct sweep_plan {
  std::vector<std::string> image_dirs;  ///< Hex ids whose disk directories go.
  std::vector<std::string> candidates;  ///< Blobs to delete if unreferenced (empty with all_blobs).
  bool all_blobs = false;               ///< Consider every blob in the store.
  bool orphan_dirs = false;             ///< Also delete image directories no record names.
  std::set<std::string> referenced;     ///< Blobs a remaining image uses.
  std::set<std::string> live_ids;       ///< Hex ids of remaining images.
};

void close_lease(self_ptr self, uint64_t id);
std::set<std::string> referenced_blobs(const images_state& st);
void run_sweep(self_ptr self, sweep_plan plan, api::removed so_far,
               caf::typed_response_promise<api::removed> rp);
void drop_image(self_ptr self, const std::string& id, api::removed& out, sweep_plan& plan);

}  // namespace berth::image::detail
